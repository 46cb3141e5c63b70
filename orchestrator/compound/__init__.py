"""compound"""
