"""Lambda@Edge origin-request function: SigV4-signs requests to an S3-compatible custom origin.

Handler: ``functions.origin_signer.origin_request.handler``. Standard library and
botocore only; settings baked as ``config.json`` (see ``settings``).
"""
