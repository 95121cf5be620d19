"""The DSL's review of held images: the queue, the decisions and their audit trail.

decisions.py  what can be decided and how (plain functions; the CLI and the web app share them)
render.py     pictures for the DSL: faces outlined and labelled, the redacted preview, thumbnails
auth.py       staff sign-in (through consent_db's staff accounts), sessions and CSRF tokens
app.py        the local web app (Starlette, server-rendered)
"""
