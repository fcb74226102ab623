"""carbonguard.policy"""
