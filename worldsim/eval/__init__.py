"""worldsim.eval"""
