"""Bridges to tools ML teams already run (MLflow). Each is optional and never fails a training job."""
