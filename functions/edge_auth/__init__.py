"""Lambda@Edge functions of edgemeter: API-key authorization and refunds at the CDN.

Handlers: ``functions.edge_auth.viewer_request.handler`` (viewer-request) and
``functions.edge_auth.origin_response.handler`` (origin-response). Standard
library and botocore only (Lambda@Edge takes no third-party packages); settings
are baked into the package as ``config.json`` (see ``settings``) or injected
with ``functions.edge_auth.runtime.configure``.
"""
