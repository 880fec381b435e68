"""worldsim.train"""
