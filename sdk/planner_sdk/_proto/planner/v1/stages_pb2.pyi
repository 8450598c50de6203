# Generated from protos/planner/v1 by protos/generate.py. Do not edit.
from planner_sdk._proto.planner.v1 import types_pb2 as _types_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ObserveRequest(_message.Message):
    __slots__ = ("context",)
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    context: _types_pb2.TickContext
    def __init__(self, context: _Optional[_Union[_types_pb2.TickContext, _Mapping]] = ...) -> None: ...

class PredictRequest(_message.Message):
    __slots__ = ("context",)
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    context: _types_pb2.TickContext
    def __init__(self, context: _Optional[_Union[_types_pb2.TickContext, _Mapping]] = ...) -> None: ...

class ProposeRequest(_message.Message):
    __slots__ = ("context",)
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    context: _types_pb2.TickContext
    def __init__(self, context: _Optional[_Union[_types_pb2.TickContext, _Mapping]] = ...) -> None: ...

class ClampRequest(_message.Message):
    __slots__ = ("context",)
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    context: _types_pb2.TickContext
    def __init__(self, context: _Optional[_Union[_types_pb2.TickContext, _Mapping]] = ...) -> None: ...

class ApplyRequest(_message.Message):
    __slots__ = ("context", "decision")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    context: _types_pb2.TickContext
    decision: _types_pb2.Decision
    def __init__(self, context: _Optional[_Union[_types_pb2.TickContext, _Mapping]] = ..., decision: _Optional[_Union[_types_pb2.Decision, _Mapping]] = ...) -> None: ...
