"""worldsim.eval: measure a renderer against the reference world (`worldsim eval`, docs/QUALITY.md).

    from worldsim.eval.config import EvalConfig
    from worldsim.eval.run import evaluate
    summary = evaluate(renderer, EvalConfig(seeds=(100000, 100001)))      # a JSON-able dict
"""
