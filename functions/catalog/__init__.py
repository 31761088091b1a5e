"""The objects catalog: which objects exist, in which state, and archive restores on demand.

Imported by the credits service (authorize consults it), by the S3 event
notification Lambda (``functions.catalog.s3_events``) and by ``edgemeter catalog sync``.
"""
