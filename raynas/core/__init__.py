"""The search-space core: mutables, the space as plain data, fixing, architecture files."""
