"""The SCIM endpoint's HTTP handlers: aiohttp class-based views, one method per verb. They read
the request, hand its messages and resources to the use cases, and write the response;
:mod:`scim_api.routes` maps the paths to them."""
