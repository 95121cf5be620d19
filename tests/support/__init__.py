"""What the tests share: helpers, fixtures' builders, independent checkers."""
