"""HTTP simulator of the Nova (compute v2.1) and Cinder (block-storage v3) read APIs.

StackLedger cannot run Nova or Cinder on one machine, so tests talk to this instead, found through
the real Keystone catalog (ops/keystone.sh registers it) and authenticated with real Keystone
tokens. Responses follow the upstream api-ref samples, microversion by microversion; the cloud it
describes comes from a fleet file (fleet.py). Standard library only: it also runs in the app venv.

Modules: web (HTTP plumbing) -> app (auth, microversions, routing) -> nova/cinder (routes) ->
*_views (JSON shapes); fleet/loader (the simulated cloud); keystone (token validation).
"""
