"""PostgreSQL access: schema migrations and the asyncio bridge that drives asyncpg."""

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A connection of our own or one borrowed from a pool; queries take either.
Connection = asyncpg.Connection | PoolConnectionProxy
