"""Resources as the API's GET endpoints serve them (SPEC §2), for the routers and for webhook payloads alike:
a webhook's ``data`` is the resource exactly as its GET endpoint returns it at that moment."""
