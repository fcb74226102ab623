"""carbonguard.formats"""
