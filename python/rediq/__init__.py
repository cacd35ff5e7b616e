"""rediq: a distributed job queue whose core is server-side Redis Lua scripts.

Quick start::

    import rediq
    client = rediq.Client.from_url("redis://localhost:6379/0")
    job = client.queue("user-uploads").enqueue("update_user", {"name": "a"})
"""

from . import codec
from .aio import AsyncClient, AsyncJob, AsyncQueue
from .client import Client, Queue
from .config import Backoff, QueueConfig, RateLimit
from .context import AsyncJobContext, JobContext
from .errors import (
    Code,
    DecodeError,
    EncodeError,
    InvalidQueueName,
    JobFailed,
    JobNotFound,
    JobTimeout,
    ProtocolMismatch,
    RediqError,
    RedisUnavailable,
    ReplicationTimeout,
    ServerNotFound,
)
from .job import Job, JobInfo
from .worker import Worker

__version__ = "0.1.0"
PROTOCOL_VERSION = 1

__all__ = [
    "AsyncClient", "AsyncJob", "AsyncJobContext", "AsyncQueue", "Backoff", "Client", "Code", "DecodeError", "EncodeError", "InvalidQueueName", "Job",
    "JobContext", "JobFailed", "JobInfo", "JobNotFound", "JobTimeout", "ProtocolMismatch",
    "Queue", "QueueConfig", "RateLimit", "RediqError", "RedisUnavailable", "ReplicationTimeout", "ServerNotFound",
    "Worker", "codec", "PROTOCOL_VERSION", "__version__",
]
