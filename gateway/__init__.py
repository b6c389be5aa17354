"""The gateway API (/internal/v1/): what the API gateway, another service, asks the
portal on every request it serves (decisions, routes) and the generation records it
posts afterwards. See DESIGN.md, "Contracts".

- api.py: the endpoints, each declared once for ninja and the fast path; authorize
  answers decisions and routes together, from the same code
- fast_path.py: the middleware that answers the hot endpoints before ninja
- schemas.py: request, response and error bodies; the generation record
- auth.py: the gateway's bearer token
- bodies.py: how a body is read (JSON only)
- errors.py: every error answer as JSON
- selectors.py: the decision and a model's routes read in one statement
- prepared.py: the gateway's queries as prepared statements
  (PORTAL_PREPARED_STATEMENTS)
"""
