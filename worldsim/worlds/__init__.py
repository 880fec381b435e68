"""worldsim.worlds"""
