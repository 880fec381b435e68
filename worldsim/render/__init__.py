"""worldsim.render"""
