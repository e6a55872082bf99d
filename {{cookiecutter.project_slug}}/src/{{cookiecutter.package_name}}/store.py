"""The monitoring store: where the service logs its traffic and the ground truth, and where `monitor` reads them.

    <store>/predictions/date=YYYY-MM-DD/model=<model version>/part-<UTC time>-<random>.parquet
    <store>/feedback/date=YYYY-MM-DD/part-<UTC time>-<random>.parquet

`<store>` is `monitor.store` in params.yaml: a local folder, or an fsspec URL (s3://, gs://, az://) with the
same backends and credentials as the DVC remote. A part is written whole (local: renamed into place; object
stores: one PUT), never appended to, so a reader never sees half a part and writers never interleave. A part
holds the rows of its folder's day only, and `_ts` is a timestamp (UTC, microseconds; parts written before
it was are ISO 8601 text, and read as timestamps too).

A prediction row holds the features under their contract names, then the log's own fields, whose names
start with "_": ingest's snake_case column names never do, so the log can never overwrite a feature.

Merged files. `compact` and `erase` (monitor/store_ops.py) replace parts by a file named `part-...-merged.parquet`
whose Parquet metadata records the names of the files of its folder it replaces (`replaces`), then delete those:
a reader leaves out every file that a merged file of the same folder records, so that a crash between the two
steps never shows a row twice, and a part written meanwhile (recorded by none) is read as ever.

Reads. The partition keys prune before anything is fetched: only the window's `date=` folders are listed, and
only the selected versions' `model=` folders are read (the others' rows are counted from the Parquet footers).
Each part is then read whole (local files in threads; an object store's by concurrent whole-object GETs, one
request a part, through obstore on S3, decoded while the next are fetched), and the parts of one schema are cast
together to the schema of the selected version's latest part (a column it lacks dropped, one it added null in older
parts, a retyped one cast: a class logged as an integer, then as text, reads as text).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import os
import uuid
from collections import defaultdict, deque
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import io
from .errors import ProjectError

if TYPE_CHECKING:
    from obstore.store import ClientConfig, S3Config, S3Credential

PREDICTIONS, FEEDBACK = "predictions", "feedback"
KINDS = (PREDICTIONS, FEEDBACK)
# The log's own fields.
ID = "_id"  # the record's id: the data.id_column value the client sent, else one the service made
TS = "_ts"  # UTC time the row was logged (predictions) or the label arrived (feedback)
MODEL_VERSION = "_model_version"
PREDICTION = "_prediction"
PROBABILITIES = "_probabilities"  # classification: {class: probability}, as the service answered (a struct)
TRAFFIC = "_traffic"  # "live"; "test" for smoke tests, load tests and demos (X-Traffic: test); "batch": `predict --log`
UNKNOWN = "_unknown"  # the features whose category the contract does not list, comma-separated
LABEL = "_label"  # feedback: the ground truth of the record `_id`
LIVE, TEST, BATCH = "live", "test", "batch"
LOG_FIELDS = (ID, TS, MODEL_VERSION, PREDICTION, PROBABILITIES, TRAFFIC, UNKNOWN)
UTC_TIME = pa.timestamp("us", tz="UTC")  # the type of _ts
MERGED = "-merged.parquet"  # the end of a merged file's name
REPLACES = b"replaces"  # a merged file's Parquet metadata: the JSON list of the names of the files it replaces
# Which model versions a reader reads: None = every version; a version ("my_model:3f2a..." or the partition's
# "3f2a...") or several.
Versions = str | Collection[str] | None
FETCH_BYTES = 64 * 2**20  # parts are read this many bytes at a time, their rows made one chunk


KEY_ENV = "MONITOR_HASH_KEY"  # the HMAC-SHA256 key of serve.log_hash_columns and serve.log_hash_id
MIN_KEY_LENGTH = 16  # characters: a short key can be guessed along with the values


def hash_value(value: str, key: str) -> str:
    """HMAC-SHA256 of `value` with `key`, in hex: how an id is stored when the log hashes ids (erase hashes the
    ids it is given the same way)."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def hash_logged(value: Any, key: str) -> str | None:
    """How the log writes a hashed value: the HMAC of a string as it is, of any other value as JSON; null stays null."""
    if value is None:
        return None
    return hash_value(value if isinstance(value, str) else json.dumps(value), key)


def hash_key(hashed: Sequence[str], hash_id: bool, environ: Mapping[str, str] = os.environ) -> str | None:
    """The HMAC key ($MONITOR_HASH_KEY) when the log hashes columns or ids, else None; ProjectError (one line)
    when it is not set, or too short to be a secret. The service and `predict --log` alike."""
    what = ([f"serve.log_hash_columns ({', '.join(hashed)})"] if hashed else []) + (["_id"] if hash_id else [])
    if not what:
        return None
    key = environ.get(KEY_ENV, "")
    if len(key) < MIN_KEY_LENGTH:
        problem = "is not set" if not key else f"has {len(key)} characters, fewer than {MIN_KEY_LENGTH}"
        raise ProjectError(
            f"the inference log hashes {' and '.join(what)} with ${KEY_ENV}, which {problem}: set it to a random "
            "secret (e.g. `openssl rand -hex 32`; in the cluster, from a Secret) and keep it"
        )
    return key


def private_columns(
    columns: Mapping[str, pa.Array], drop: Collection[str], hashed: Collection[str], key: str | None
) -> dict[str, pa.Array]:
    """Features as the log keeps them: those of serve.log_drop_columns left out, those of serve.log_hash_columns
    as their HMAC (hash_logged), the others as they are."""
    kept: dict[str, pa.Array] = {}
    for name, column in columns.items():
        if name in drop:
            continue
        if name in hashed:
            column = pa.array([hash_logged(value, key or "") for value in column.to_pylist()], pa.string())
        kept[name] = column
    return kept


def logged_ids(ids: Sequence[str], key: str | None) -> pa.Array:
    """The `_id` column: the ids as they are, or (serve.log_hash_id: a key) their HMAC."""
    return pa.array([hash_value(value, key) for value in ids] if key else list(ids), pa.string())


def filesystem(root: str) -> tuple[Any, str]:
    """(fsspec file system, path in it) of a store root: a local folder or a URL."""
    return io.filesystem(root, f"monitor.store {root!r}")


def version_key(model_version: str | None) -> str:
    """A model version as its predictions' partition names it: "my_model:3f2a" -> "3f2a"."""
    return (model_version or "unknown").rpartition(":")[2]


def partition(kind: str, day: date, model_version: str | None = None) -> str:
    """The folder of one day's parts, relative to the store root (predictions: per model version too)."""
    if kind not in KINDS:
        raise ValueError(f"unknown store kind {kind!r}")
    folder = f"{kind}/date={day.isoformat()}"
    if kind == PREDICTIONS:
        folder += f"/model={version_key(model_version)}"
    return folder


def write_part(root: str, kind: str, table: pa.Table, when: datetime, model_version: str | None = None) -> str:
    """Write one Parquet part of `kind` for the day of `when` (its `_ts`, ISO text or timestamps, as a UTC
    timestamp); its path. Local parts appear atomically."""
    fs, base = filesystem(root)
    folder = f"{base.rstrip('/')}/{partition(kind, when.astimezone(UTC).date(), model_version)}"
    path = f"{folder}/part-{when.astimezone(UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.parquet"
    if TS in table.column_names:
        table = table.set_column(table.schema.get_field_index(TS), TS, utc_times(table[TS]))
    return write_file(fs, path, table)


def write_file(fs: Any, path: str, table: pa.Table, replaces: Sequence[str] = ()) -> str:
    """Write a Parquet file whole (local: renamed into place; an object store's PUT is whole or nothing), with the
    names of the files it replaces in its metadata; its path."""
    folder, _, name = path.rpartition("/")
    fs.makedirs(folder, exist_ok=True)
    local = is_local(fs)
    target = f"{folder}/.{name}.tmp" if local else path
    native = None if local else fs  # a local file written through fsspec's Python file objects: slower
    with pq.ParquetWriter(
        target, table.schema, filesystem=native, use_dictionary=repeating_columns(table.schema)
    ) as writer:
        writer.write_table(table)
        if replaces:  # in the footer only (the schema's copy would double it)
            writer.add_key_value_metadata({REPLACES: json.dumps(list(replaces))})
    if local:
        os.replace(target, path)
    return path


def merged_name(names: Iterable[str]) -> str:
    """The name of a file that replaces these: the latest one's time and random part, then its own, so that it
    sorts right after them (part-<time>-<random>_<random>-merged.parquet)."""
    latest = max(name.removesuffix(MERGED).removesuffix(".parquet") for name in names)
    return f"{'-'.join(latest.split('-')[:3]).split('_')[0]}_{uuid.uuid4().hex[:8]}{MERGED}"


def repeating_columns(schema: pa.Schema) -> list[str]:
    """The columns worth Parquet's dictionary encoding: the strings, whose values repeat (categories, the model
    version, the traffic), and the time (a batch's rows share it), but not the ids. Numbers are written plain:
    dictionary-encoding measured values that rarely repeat took 4x the CPU of writing a part, for a larger file."""
    return [field.name for field in schema if (pa.types.is_string(field.type) and field.name != ID) or field.name == TS]


def is_local(fs: Any) -> bool:
    """Whether an fsspec file system is the local disk (read by Arrow's own file system, not through fsspec's)."""
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def _days(since: datetime | None, until: datetime) -> list[date] | None:
    if since is None:
        return None
    first, last = since.astimezone(UTC).date(), until.astimezone(UTC).date()
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


# --- the listing: the parts a reader reads -------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One Parquet file of the store: its path in the file system, day, model version (the partition's key;
    None for feedback) and size in bytes."""

    path: str
    day: date
    version: str | None
    size: int

    @property
    def name(self) -> str:
        """The file's name."""
        return self.path.rpartition("/")[2]

    @property
    def folder(self) -> str:
        """Its folder: the partition."""
        return self.path.rpartition("/")[0]

    @property
    def merged(self) -> bool:
        """Whether it replaced other files (compact, erase)."""
        return self.name.endswith(MERGED)


@dataclass(frozen=True)
class Listing:
    """The files of one kind over some days: those a reader reads, and those a merged file replaced (left by an
    interrupted compaction or erasure: store_ops deletes them)."""

    fs: Any
    parts: list[Part]
    superseded: list[Part]

    def split(self, versions: Versions) -> tuple[list[Part], list[Part]]:
        """(the parts of these versions, the others'); every part is selected when `versions` is None."""
        if versions is None:
            return self.parts, []
        keys = {version_key(versions)} if isinstance(versions, str) else {version_key(name) for name in versions}
        return [p for p in self.parts if p.version in keys], [p for p in self.parts if p.version not in keys]


def _parse(path: str, top: str, kind: str, size: int) -> Part | None:
    """The part at `path` (under `top`: date=.../[model=.../]name), or None for anything else (a writer's hidden
    temporary file, a stray object)."""
    keys = path[len(top) :].strip("/").split("/")
    name = keys.pop()
    if name.startswith(".") or not (name.startswith("part-") and name.endswith(".parquet")):
        return None
    values = dict(key.partition("=")[::2] for key in keys)
    if set(values) != ({"date", "model"} if kind == PREDICTIONS else {"date"}):
        return None
    try:
        day = date.fromisoformat(values["date"])
    except ValueError:
        return None
    return Part(path, day, values.get("model"), int(size or 0))


def list_parts(root: str, kind: str, since: datetime | None = None, until: datetime | None = None) -> Listing:
    """The files of `kind` whose day falls in [since, until] (every day up to `until` when `since` is None): one
    listing per day's folder, so that other days are never listed."""
    if kind not in KINDS:
        raise ValueError(f"unknown store kind {kind!r}")
    fs, base = filesystem(root)
    until = until or datetime.now(UTC)
    top = f"{base.rstrip('/')}/{kind}"
    days = _days(since, until)
    prefixes = [top] if days is None else [f"{top}/date={day.isoformat()}" for day in days]

    def listed(prefix: str) -> dict[str, Any]:
        try:
            files: dict[str, Any] = fs.find(prefix, detail=True)
        except FileNotFoundError:
            return {}
        return files

    found: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=8) as pool:  # the days at once: an object store lists a page at a time
        for files in pool.map(listed, prefixes):
            found.update(files)
    last = until.astimezone(UTC).date()
    parsed = (_parse(path, top, kind, info.get("size", 0)) for path, info in found.items())
    every = sorted((part for part in parsed if part is not None and part.day <= last), key=lambda part: part.path)
    replaced = _replaced(fs, every)
    return Listing(fs, [p for p in every if p.path not in replaced], [p for p in every if p.path in replaced])


def _replaced(fs: Any, parts: list[Part]) -> set[str]:
    """The paths that a merged file of the same folder records as replaced. Only a folder with a merged file and
    another file can hold one: only there are footers read."""
    by_folder: dict[str, list[Part]] = defaultdict(list)
    for part in parts:
        by_folder[part.folder].append(part)
    merged = [p for group in by_folder.values() if len(group) > 1 for p in group if p.merged]
    replaced: set[str] = set()
    for part, footer in zip(merged, footers(fs, [p.path for p in merged]), strict=True):
        names = json.loads((footer.metadata or {}).get(REPLACES, b"[]"))
        replaced.update(f"{part.folder}/{name}" for name in names)
    return replaced


def part_files(root: str, kind: str, since: datetime | None = None, until: datetime | None = None) -> list[str]:
    """The paths of the parts of `kind` a reader reads whose day falls in [since, until] (every part when
    `since` is None), sorted."""
    return [part.path for part in list_parts(root, kind, since, until).parts]


# --- footers -------------------------------------------------------------------------------------------------

TAIL = 64 * 1024  # bytes fetched from the end of an object for its footer (a larger footer is fetched again)


def footers(fs: Any, paths: Sequence[str]) -> list[pq.FileMetaData]:
    """The Parquet footers of these files: local ones read in threads, an object store's by concurrent ranged GETs
    of the objects' last bytes (one request a file, two for a footer larger than TAIL)."""
    if not paths:
        return []
    if is_local(fs):
        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(pq.read_metadata, paths))
    stores = object_stores(fs, paths)
    tails = fetch(fs, stores, paths, TAIL)
    needed = [int.from_bytes(bytes(tail[-8:-4]), "little") + 8 for tail in tails]
    again = [i for i, tail in enumerate(tails) if needed[i] > len(tail) == TAIL]
    for i, tail in zip(again, fetch(fs, stores, [paths[i] for i in again], [needed[i] for i in again]), strict=True):
        tails[i] = tail
    return [pq.read_metadata(pa.BufferReader(pa.py_buffer(tail))) for tail in tails]


# --- an object store's objects -------------------------------------------------------------------------------

REQUESTS = 128  # GETs in flight through obstore: the store always has a queue, whatever the reader's threads are doing
FSSPEC_REQUESTS = 32  # through fsspec: its default (1,280) cost its event loop ~20 % more CPU a part, for no speed
CREDENTIALS_TTL = timedelta(minutes=5)  # how long obstore keeps refreshable credentials before asking botocore again


def fetch(
    fs: Any, stores: Mapping[str, Any] | None, paths: Sequence[str], suffix: int | Sequence[int] | None = None
) -> list[Any]:
    """These objects' bytes, whole or (`suffix`) their last bytes, one GET each, REQUESTS in flight through obstore
    (`stores`: object_stores) on S3, else fsspec's cat_ranges. FileNotFoundError when one is gone."""
    suffixes = [suffix] * len(paths) if suffix is None or isinstance(suffix, int) else list(suffix)
    if stores is None:
        options = {"batch_size": FSSPEC_REQUESTS} if getattr(fs, "async_impl", False) else {}
        starts = [None if size is None else -size for size in suffixes]
        blobs: list[Any] = fs.cat_ranges(list(paths), starts, None, on_error="raise", **options)
        return blobs
    import asyncio

    import obstore

    blobs = [None] * len(paths)

    async def fetched() -> None:  # returns nothing: asyncio.run's end formats its task's result (50 MB: 2 s of CPU)
        limit = asyncio.Semaphore(REQUESTS)

        async def one(index: int, size: int | None) -> None:
            bucket, _, key = paths[index].partition("/")
            async with limit:
                got = await obstore.get_async(
                    stores[bucket], key, options={"range": {"suffix": size}} if size else None
                )
                blobs[index] = await got.bytes_async()

        await asyncio.gather(*(one(index, size) for index, size in enumerate(suffixes)))

    asyncio.run(fetched())
    return blobs


def object_stores(fs: Any, paths: Sequence[str]) -> dict[str, Any] | None:
    """obstore's S3 store of each bucket of these paths, with the endpoint, region and credentials of s3fs's client
    (`fs`): its GETs cost ~0.7 ms of CPU against s3fs's ~2 ms. Built once per s3fs instance and bucket (a read asks
    for them several times, and finding a bucket's region may take a request). None for another file system, or
    without obstore (fsspec then fetches)."""
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    if "s3" not in protocols or not paths:
        return None
    if importlib.util.find_spec("obstore") is None:
        return None
    buckets = {path.partition("/")[0] for path in paths}
    built: dict[str, Any] = vars(fs).setdefault("_object_stores", {})  # this instance's, as its credentials are
    if missing := buckets - built.keys():
        built.update(_new_object_stores(fs, missing))
    return {bucket: built[bucket] for bucket in buckets}


def _new_object_stores(fs: Any, buckets: Collection[str]) -> dict[str, Any]:
    """obstore's S3 stores of these buckets, as s3fs's client reaches them (object_stores)."""
    from obstore.store import S3Store

    client = fs.s3  # s3fs's botocore client: where and as whom s3fs sends its requests
    endpoint = str(client.meta.endpoint_url)
    host = urlsplit(endpoint).hostname or ""
    aws = host.endswith((".amazonaws.com", ".amazonaws.com.cn"))
    config: S3Config = {} if aws else {"endpoint": endpoint}  # another vendor's S3 API or an emulator: path style
    configured = client.meta.region_name if _region_configured(fs) else None
    options: ClientConfig = {"allow_http": endpoint.startswith("http://")}  # TLS unless the endpoint says http
    provider = None if fs.anon else BotocoreCredentials(fs)
    stores = {}
    for bucket in buckets:
        region = configured or (_bucket_region(fs, bucket) if aws else None) or client.meta.region_name or "us-east-1"
        stores[bucket] = S3Store(
            bucket,
            config=config | {"region": region, "skip_signature": bool(fs.anon), "request_payer": fs.requester_pays},
            client_options=options,
            credential_provider=provider,
        )
    return stores


def _region_configured(fs: Any) -> bool:
    """Whether s3fs's client was given a region (its client_kwargs, AWS_DEFAULT_REGION, the profile's), rather than
    botocore's default us-east-1, whose requests S3 redirects to the bucket's region and botocore follows."""
    import botocore.session

    session = botocore.session.Session(profile=fs.kwargs.get("profile"))
    return bool(fs.client_kwargs.get("region_name") or session.get_config_variable("region"))


def _bucket_region(fs: Any, bucket: str) -> str | None:
    """A bucket's region as S3 answers a HEAD of it (x-amz-bucket-region), None when it does not say."""
    try:
        answer = fs.call_s3("head_bucket", Bucket=bucket)
    except (OSError, ValueError):
        return None
    region: str | None = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-bucket-region")
    return region


class BotocoreCredentials:
    """obstore's credential provider for the credentials s3fs signs with: its own key, secret and token when it was
    given them, else botocore's chain (AWS_ACCESS_KEY_ID..., AWS_PROFILE in ~/.aws, web identity, SSO, the
    container's or instance's role). Refreshable credentials are asked for again every CREDENTIALS_TTL: botocore
    renews them before they expire."""

    def __init__(self, fs: Any) -> None:
        import botocore.credentials
        import botocore.session

        if fs.key and fs.secret:
            self.credentials = botocore.credentials.Credentials(fs.key, fs.secret, fs.token)
        else:
            found = botocore.session.Session(profile=fs.kwargs.get("profile")).get_credentials()
            if found is None:
                raise ProjectError("no AWS credentials found (botocore's chain: the environment, ~/.aws, roles)")
            self.credentials = found
        self.refreshable = isinstance(self.credentials, botocore.credentials.RefreshableCredentials)

    def __call__(self) -> S3Credential:
        """The credentials now, and until when obstore may use them."""
        frozen = self.credentials.get_frozen_credentials()
        return {
            "access_key_id": frozen.access_key,
            "secret_access_key": frozen.secret_key,
            "token": frozen.token,
            "expires_at": datetime.now(UTC) + CREDENTIALS_TTL if self.refreshable else None,
        }


# --- reading -------------------------------------------------------------------------------------------------


def utc_times(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """A time column (ISO 8601 text or timestamps) as UTC timestamps: Arrow's parser, else pandas' for the forms
    Arrow does not read."""
    import pyarrow.compute as pc

    if isinstance(column, pa.Array):
        column = pa.chunked_array([column], type=column.type)
    try:
        if pa.types.is_timestamp(column.type) and column.type.tz is None:
            return pc.assume_timezone(column, "UTC").cast(UTC_TIME)
        return pc.cast(column, UTC_TIME)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed = pd.to_datetime(column.to_pandas(), utc=True, format="ISO8601")
        return pa.chunked_array([pa.array(parsed, type=UTC_TIME)])


def arrow_memory_pool() -> None:
    """Make jemalloc Arrow's allocator when this pyarrow has it. Its default, mimalloc, hands a large table's
    pages back to the kernel and faults them in again: reading a million logged rows (300 MB) took 2.9 s, most
    of it system time, against 0.8 s with jemalloc on the machines this template is measured on."""
    try:
        if pa.default_memory_pool().backend_name != "jemalloc":
            pa.set_memory_pool(pa.jemalloc_memory_pool())
    except (NotImplementedError, pa.ArrowNotImplementedError):
        pass  # a pyarrow built without jemalloc: keep its default


def target_schema(schema: pa.Schema) -> pa.Schema:
    """The schema parts are read as: a part's, without metadata, its `_ts` a UTC timestamp."""
    schema = schema.remove_metadata()
    if TS in schema.names:
        schema = schema.set(schema.get_field_index(TS), pa.field(TS, UTC_TIME))
    return schema


def read_files(
    fs: Any, parts: Sequence[Part], schema: pa.Schema | None = None, *, union: bool = False
) -> pa.Table | None:
    """These parts as one table of `schema`, by default the latest part's (target_schema); with `union`, every column
    of any of them, the latest one's first (compact: a merge loses no column). Each part is cast to it (a column it
    lacks dropped, a column it added null, a retyped one cast; when a part's column cannot be cast, that column is
    read as text in every part). The rows of FETCH_BYTES of parts at a time are made one chunk (a chunk a part would
    cost every later step of a reader per chunk). None when there is none."""
    if not parts:
        return None
    arrow_memory_pool()
    if schema is None and not union:
        latest = max(parts, key=lambda part: (part.day, part.name.removesuffix(MERGED)))
        schema = target_schema(footers(fs, [latest.path])[0].schema.to_arrow_schema())
    tables = []
    read = _part_tables(fs, parts)
    for batch in _batches(parts, FETCH_BYTES):
        groups: dict[pa.Schema, list[pa.Table]] = defaultdict(list)  # the parts of one schema: cast once, together
        for _ in batch:
            table = next(read)
            groups[table.schema].append(table)
        chosen = schema or union_schema([*groups, table.schema])  # the latest part's schema last: its columns first
        table = conform([pa.concat_tables(group) for group in groups.values()], chosen)
        tables.append(table.combine_chunks() if table.num_columns else table)
    if len(tables) == 1:
        return tables[0]
    if schema is None:  # each batch has its own union
        return conform(tables, union_schema([table.schema for table in tables]))
    return pa.concat_tables(tables)


ROUND_BYTES = 8 * 2**20  # an object store's parts fetched in one round of requests, decoded while the next is fetched
AHEAD = 2  # rounds fetched ahead of the caller: the store is never left idle while a batch is cast and combined


def _part_tables(fs: Any, parts: Sequence[Part]) -> Iterator[pa.Table]:
    """Each part as a table (without its schema's metadata), in order. Local files are read by Arrow in threads; an
    object store's are fetched whole, one GET a part and no HEAD, ROUND_BYTES at a time by a thread of their own
    that keeps AHEAD rounds in flight whatever the caller is doing, each round's objects decoded in another."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        if is_local(fs):
            yield from pool.map(_read_part, [part.path for part in parts])
            return
        stores = object_stores(fs, [part.path for part in parts])
        rounds = iter(_batches(parts, ROUND_BYTES))
        with ThreadPoolExecutor(max_workers=1) as fetcher:
            fetching = deque(
                fetcher.submit(fetch, fs, stores, [part.path for part in round_]) for round_ in islice(rounds, AHEAD)
            )
            decoding: deque[Future[list[pa.Table]]] = deque()
            while fetching:
                blobs = fetching.popleft().result()
                if (following := next(rounds, None)) is not None:
                    fetching.append(fetcher.submit(fetch, fs, stores, [part.path for part in following]))
                decoding.append(pool.submit(_decoded, blobs))
                if len(decoding) > 1:
                    yield from decoding.popleft().result()
            while decoding:
                yield from decoding.popleft().result()


def _decoded(blobs: Sequence[Any]) -> list[pa.Table]:
    """Objects' bytes (one Parquet file each) as tables."""
    return [_read_part(pa.BufferReader(pa.py_buffer(blob))) for blob in blobs]


def _read_part(source: Any) -> pa.Table:
    """One Parquet file (a local path, or an object's bytes), its columns as written."""
    table: pa.Table = pq.ParquetFile(source).read(use_threads=False)
    return table.replace_schema_metadata(None)


def _batches(parts: Sequence[Part], size: int) -> Iterable[list[Part]]:
    """The parts in order, in lists of `size` bytes (a larger part alone)."""
    batch: list[Part] = []
    total = 0
    for part in parts:
        batch.append(part)
        total += part.size
        if total >= size:
            yield batch
            batch, total = [], 0
    if batch:
        yield batch


def union_schema(schemas: Sequence[pa.Schema]) -> pa.Schema:
    """Every column of these schemas, the last one's first with its types, then the others' it lacks
    (target_schema)."""
    merged = schemas[-1]
    for schema in schemas:
        for field in schema:
            if field.name not in merged.names:
                merged = merged.append(field)
    return target_schema(merged)


def conform(tables: Sequence[pa.Table], schema: pa.Schema) -> pa.Table:
    """Tables of several schemas as one of `schema`: a column it lacks dropped, one a table lacks null, the others
    cast (`_ts` parsed; a struct by field name); a column that some table cannot cast to the schema's type is
    text in all of them."""
    types = {field.name: field.type for field in schema}
    for table in tables:
        for name, type_ in types.items():
            if name in table.column_names and type_ != pa.string() and not _castable(table[name], type_, name):
                types[name] = pa.string()
    conformed = [
        pa.table(
            {
                name: _cast(table[name], type_, name) if name in table.column_names else pa.nulls(len(table), type_)
                for name, type_ in types.items()
            }
        )
        for table in tables
    ]
    return pa.concat_tables(conformed)


def _castable(column: pa.ChunkedArray, type_: pa.DataType, name: str) -> bool:
    try:
        _cast(column, type_, name)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError, TypeError):
        return False
    return True


def _cast(column: pa.ChunkedArray, type_: pa.DataType, name: str) -> pa.ChunkedArray:
    """One column as `type_`: `_ts` by utc_times, a struct field by field (a field it lacks null), text from
    anything, else Arrow's cast."""
    if column.type == type_:
        return column
    if name == TS and type_ == UTC_TIME:
        return utc_times(column)
    if pa.types.is_struct(type_) and pa.types.is_struct(column.type):
        chunks = []
        for chunk in column.chunks:
            present = {chunk.type.field(i).name: chunk.field(i) for i in range(chunk.type.num_fields)}
            children = [
                _cast(pa.chunked_array([present[field.name]]), field.type, field.name).combine_chunks()
                if field.name in present
                else pa.nulls(len(chunk), field.type)
                for field in type_
            ]
            chunks.append(pa.StructArray.from_arrays(children, fields=list(type_), mask=chunk.is_null()))
        return pa.chunked_array(chunks, type=type_)
    try:
        return column.cast(type_)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if type_ != pa.string():
            raise
        return pa.chunked_array([pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())])


def count_rows(fs: Any, parts: Sequence[Part], since: datetime | None, until: datetime) -> dict[str, int]:
    """Per model version, the rows of these parts logged in [since, until], from their footers: a part of a day
    inside the window counts whole, a part of the first or last day by its `_ts` statistics, and only a part
    whose rows straddle the window's edge has its `_ts` read."""
    import pyarrow.compute as pc

    counts: dict[str, int] = defaultdict(int)
    first = since.astimezone(UTC).date() if since else None
    last = until.astimezone(UTC).date()
    straddling = []
    for part, footer in zip(parts, footers(fs, [part.path for part in parts]), strict=True):
        whole = part.day < last and (first is None or part.day > first)
        inside = True if whole else _inside(footer, since, until)
        if inside is None:
            straddling.append(part)
        elif inside:
            counts[part.version or ""] += footer.num_rows
    for part in straddling:
        times = utc_times(pq.read_table(part.path, columns=[TS], filesystem=fs)[TS])
        counts[part.version or ""] += int(pc.sum(in_window(times, since, until)).as_py() or 0)
    return dict(counts)


def _inside(footer: pq.FileMetaData, since: datetime | None, until: datetime) -> bool | None:
    """Whether all (True) or none (False) of a file's rows fall in [since, until] by its `_ts` statistics; None
    when they do not tell."""
    lows, highs = [], []
    for group in range(footer.num_row_groups):
        columns = footer.row_group(group)
        for index in range(columns.num_columns):
            column = columns.column(index)
            if column.path_in_schema == TS:
                statistics = column.statistics
                # text times (parts written before _ts was a timestamp) sort as times only in one format
                if statistics is None or not statistics.has_min_max or not isinstance(statistics.min, datetime):
                    return None
                lows.append(_utc(statistics.min))
                highs.append(_utc(statistics.max))
    if not lows:
        return None
    low, high = min(lows), max(highs)
    if high < (since or low) or low > until:
        return False
    if (since is None or low >= since) and high <= until:
        return True
    return None


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Selection:
    """What a reader read of a window: the selected versions' rows (None when there is none) and, per model version
    not selected, how many rows it logged in the window (counted, not read)."""

    table: pa.Table | None
    others: dict[str, int]


def read_selection(
    root: str, kind: str, since: datetime | None = None, until: datetime | None = None, versions: Versions = None
) -> Selection:
    """The parts of `kind` of the days in [since, until] of the selected versions (`versions`; None: every
    version; feedback has none) as one table, without the writer's pandas metadata (with it, Arrow's filter is
    ~10x slower), and the rows of the other versions in the window. The first and last days may hold rows outside
    the window: in_window() tells them. A part replaced while it was being read (compact, erase) makes the read
    start again from the listing."""
    until = until or datetime.now(UTC)
    for attempt in range(3):
        listing = list_parts(root, kind, since, until)
        chosen, others = listing.split(versions if kind == PREDICTIONS else None)
        try:
            return Selection(read_files(listing.fs, chosen), count_rows(listing.fs, others, since, until))
        except FileNotFoundError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def read_parts(
    root: str, kind: str, since: datetime | None = None, until: datetime | None = None, versions: Versions = None
) -> pa.Table | None:
    """The parts of `kind` of the days in [since, until] of the selected versions as one Arrow table (see
    read_selection); None when there is none."""
    return read_selection(root, kind, since, until, versions).table


def in_window(times: pa.ChunkedArray, since: datetime | None, until: datetime) -> pa.ChunkedArray:
    """Which of these UTC timestamps (utc_times) fall in [since, until]."""
    import pyarrow.compute as pc

    keep = pc.less_equal(times, pa.scalar(until, UTC_TIME))
    return keep if since is None else pc.and_(keep, pc.greater_equal(times, pa.scalar(since, UTC_TIME)))


def read_window_table(
    root: str, kind: str, since: datetime | None = None, until: datetime | None = None, versions: Versions = None
) -> pa.Table | None:
    """Every row of `kind` logged in [since, until] (all of them when `since` is None) by the selected versions
    (None: every version) as one Arrow table, its `_ts` a UTC timestamp; None when no part falls in the window."""
    import pyarrow.compute as pc

    until = until or datetime.now(UTC)
    table = read_parts(root, kind, since, until, versions)
    if table is None:
        return None
    keep = in_window(utc_times(table.column(TS)), since, until)
    return table if pc.all(keep).as_py() else table.filter(keep)


def read_window(
    root: str, kind: str, since: datetime | None = None, until: datetime | None = None, versions: Versions = None
) -> pd.DataFrame:
    """Every row of `kind` logged in [since, until] (all of them when `since` is None) by the selected versions
    (None: every version), as one table."""
    table = read_window_table(root, kind, since, until, versions)
    if table is None:
        return pd.DataFrame()
    frame: pd.DataFrame = table.to_pandas(split_blocks=True, self_destruct=True)  # no consolidating copy
    return frame
