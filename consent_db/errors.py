"""The store's one error type, shared by every module of the package."""


class StoreError(Exception):
    """A refusal or failure with a message fit to show the user as it is."""
