"""worldsim.controls"""
