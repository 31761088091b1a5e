"""The edgemeter CDK app: settings, constructs (one per concern) and the stacks that compose them."""
