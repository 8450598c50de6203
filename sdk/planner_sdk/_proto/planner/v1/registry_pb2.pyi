# Generated from protos/planner/v1 by protos/generate.py. Do not edit.
from planner_sdk._proto.planner.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RegisterRequest(_message.Message):
    __slots__ = ("declaration", "endpoint", "plugin_version", "protocol_versions")
    DECLARATION_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    declaration: _types_pb2.PluginDeclaration
    endpoint: str
    plugin_version: str
    protocol_versions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, declaration: _Optional[_Union[_types_pb2.PluginDeclaration, _Mapping]] = ..., endpoint: _Optional[str] = ..., plugin_version: _Optional[str] = ..., protocol_versions: _Optional[_Iterable[str]] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("accepted", "reason", "protocol_version", "heartbeat_interval_seconds", "lease_seconds", "base_cadence_seconds")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    BASE_CADENCE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    reason: str
    protocol_version: str
    heartbeat_interval_seconds: float
    lease_seconds: float
    base_cadence_seconds: float
    def __init__(self, accepted: _Optional[bool] = ..., reason: _Optional[str] = ..., protocol_version: _Optional[str] = ..., heartbeat_interval_seconds: _Optional[float] = ..., lease_seconds: _Optional[float] = ..., base_cadence_seconds: _Optional[float] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("plugin_id",)
    PLUGIN_ID_FIELD_NUMBER: _ClassVar[int]
    plugin_id: str
    def __init__(self, plugin_id: _Optional[str] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("known", "lease_seconds")
    KNOWN_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    known: bool
    lease_seconds: float
    def __init__(self, known: _Optional[bool] = ..., lease_seconds: _Optional[float] = ...) -> None: ...

class UnregisterRequest(_message.Message):
    __slots__ = ("plugin_id",)
    PLUGIN_ID_FIELD_NUMBER: _ClassVar[int]
    plugin_id: str
    def __init__(self, plugin_id: _Optional[str] = ...) -> None: ...

class UnregisterResponse(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: bool
    def __init__(self, removed: _Optional[bool] = ...) -> None: ...

class ListPluginsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PluginStatus(_message.Message):
    __slots__ = ("declaration", "endpoint", "source", "circuit", "last_latency_ms", "last_error", "plugin_version")
    DECLARATION_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_FIELD_NUMBER: _ClassVar[int]
    LAST_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    PLUGIN_VERSION_FIELD_NUMBER: _ClassVar[int]
    declaration: _types_pb2.PluginDeclaration
    endpoint: str
    source: str
    circuit: str
    last_latency_ms: float
    last_error: str
    plugin_version: str
    def __init__(self, declaration: _Optional[_Union[_types_pb2.PluginDeclaration, _Mapping]] = ..., endpoint: _Optional[str] = ..., source: _Optional[str] = ..., circuit: _Optional[str] = ..., last_latency_ms: _Optional[float] = ..., last_error: _Optional[str] = ..., plugin_version: _Optional[str] = ...) -> None: ...

class ListPluginsResponse(_message.Message):
    __slots__ = ("plugins", "base_cadence_seconds")
    PLUGINS_FIELD_NUMBER: _ClassVar[int]
    BASE_CADENCE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    plugins: _containers.RepeatedCompositeFieldContainer[PluginStatus]
    base_cadence_seconds: float
    def __init__(self, plugins: _Optional[_Iterable[_Union[PluginStatus, _Mapping]]] = ..., base_cadence_seconds: _Optional[float] = ...) -> None: ...
