"""The billing console (issue 17): a single page in console/src, built into console/dist by npm.

The Python side holds only what the local runtime and the CDK stacks share about it: which
credits API routes each staff group may call (``staff_access``).
"""
