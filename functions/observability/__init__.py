"""Observability shared by the Lambdas' Python code: names, the redacting log path.

``names`` builds nothing (the CDK app imports it for metric namespaces and service names);
``logs`` builds a Powertools logger only when called, inside a Lambda or a test.
"""
