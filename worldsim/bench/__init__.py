"""worldsim.bench"""
