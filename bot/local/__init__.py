"""Everything that runs only on a machine without real accounts or for rehearsals: the console,
the local bot and stack, request signing and Slack payload builders for local use, the embedded
Redis and the child processes it starts. Production (``cloudsync serve``/``worker``) needs none of
it except the embedded Redis and local workers of ``cloudsync run``, which load no simulator code
unless the inventory marks hosts ``simulated``."""
