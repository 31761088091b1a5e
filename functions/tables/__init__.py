"""What every DynamoDB table of edgemeter shares, below the packages that own tables.

The credits tables (functions/credits/data/models.py) and the objects table
(functions/catalog/models.py) both read their key schemas and TTL attribute from here,
so neither package imports the other for them.
"""
