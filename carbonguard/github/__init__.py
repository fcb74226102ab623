"""GitHub surfaces that talk to the REST API (the pull-request comment). Never imported by the core."""
