"""carbonguard.prefect"""
