"""worldsim.runtime"""
