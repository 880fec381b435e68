"""worldsim.models"""
