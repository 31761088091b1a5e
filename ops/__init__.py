"""Operations tooling that reads the production data model: the money audit."""
