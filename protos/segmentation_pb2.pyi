from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ErrorReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_REASON_UNSPECIFIED: _ClassVar[ErrorReason]
    NO_IMAGE: _ClassVar[ErrorReason]
    UNSUPPORTED_FORMAT: _ClassVar[ErrorReason]
    CORRUPT_IMAGE: _ClassVar[ErrorReason]
    IMAGE_TOO_LARGE: _ClassVar[ErrorReason]
    BAD_RAW_IMAGE: _ClassVar[ErrorReason]
    BAD_TENSOR: _ClassVar[ErrorReason]
    MODEL_NOT_FOUND: _ClassVar[ErrorReason]
    MODEL_UNAVAILABLE: _ClassVar[ErrorReason]
    MODEL_LOADING: _ClassVar[ErrorReason]
    SHUTTING_DOWN: _ClassVar[ErrorReason]
    OVERLOADED: _ClassVar[ErrorReason]
    DEADLINE_EXPIRED: _ClassVar[ErrorReason]
    UNAUTHENTICATED: _ClassVar[ErrorReason]
    INTERNAL: _ClassVar[ErrorReason]
    NO_SOFT_MASK: _ClassVar[ErrorReason]

class PixelFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PIXEL_FORMAT_UNSPECIFIED: _ClassVar[PixelFormat]
    PIXEL_FORMAT_RGB8: _ClassVar[PixelFormat]
    PIXEL_FORMAT_BGR8: _ClassVar[PixelFormat]

class MaskEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MASK_ENCODING_UNSPECIFIED: _ClassVar[MaskEncoding]
    MASK_ENCODING_PNG: _ClassVar[MaskEncoding]
    MASK_ENCODING_RAW: _ClassVar[MaskEncoding]

class DropPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DROP_POLICY_UNSPECIFIED: _ClassVar[DropPolicy]
    DROP_POLICY_LATEST: _ClassVar[DropPolicy]
    DROP_POLICY_NONE: _ClassVar[DropPolicy]
ERROR_REASON_UNSPECIFIED: ErrorReason
NO_IMAGE: ErrorReason
UNSUPPORTED_FORMAT: ErrorReason
CORRUPT_IMAGE: ErrorReason
IMAGE_TOO_LARGE: ErrorReason
BAD_RAW_IMAGE: ErrorReason
BAD_TENSOR: ErrorReason
MODEL_NOT_FOUND: ErrorReason
MODEL_UNAVAILABLE: ErrorReason
MODEL_LOADING: ErrorReason
SHUTTING_DOWN: ErrorReason
OVERLOADED: ErrorReason
DEADLINE_EXPIRED: ErrorReason
UNAUTHENTICATED: ErrorReason
INTERNAL: ErrorReason
NO_SOFT_MASK: ErrorReason
PIXEL_FORMAT_UNSPECIFIED: PixelFormat
PIXEL_FORMAT_RGB8: PixelFormat
PIXEL_FORMAT_BGR8: PixelFormat
MASK_ENCODING_UNSPECIFIED: MaskEncoding
MASK_ENCODING_PNG: MaskEncoding
MASK_ENCODING_RAW: MaskEncoding
DROP_POLICY_UNSPECIFIED: DropPolicy
DROP_POLICY_LATEST: DropPolicy
DROP_POLICY_NONE: DropPolicy

class RawImage(_message.Message):
    __slots__ = ("data", "width", "height", "format")
    DATA_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    width: int
    height: int
    format: PixelFormat
    def __init__(self, data: _Optional[bytes] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., format: _Optional[_Union[PixelFormat, str]] = ...) -> None: ...

class Image(_message.Message):
    __slots__ = ("encoded", "raw")
    ENCODED_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    encoded: bytes
    raw: RawImage
    def __init__(self, encoded: _Optional[bytes] = ..., raw: _Optional[_Union[RawImage, _Mapping]] = ...) -> None: ...

class StreamOptions(_message.Message):
    __slots__ = ("drop_policy", "max_fps", "smoothing")
    DROP_POLICY_FIELD_NUMBER: _ClassVar[int]
    MAX_FPS_FIELD_NUMBER: _ClassVar[int]
    SMOOTHING_FIELD_NUMBER: _ClassVar[int]
    drop_policy: DropPolicy
    max_fps: float
    smoothing: float
    def __init__(self, drop_policy: _Optional[_Union[DropPolicy, str]] = ..., max_fps: _Optional[float] = ..., smoothing: _Optional[float] = ...) -> None: ...

class SegmentRequest(_message.Message):
    __slots__ = ("model", "image", "frame_id", "mask_encoding", "stream_options", "alpha", "refine_edges")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    MASK_ENCODING_FIELD_NUMBER: _ClassVar[int]
    STREAM_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    REFINE_EDGES_FIELD_NUMBER: _ClassVar[int]
    model: str
    image: Image
    frame_id: int
    mask_encoding: MaskEncoding
    stream_options: StreamOptions
    alpha: bool
    refine_edges: bool
    def __init__(self, model: _Optional[str] = ..., image: _Optional[_Union[Image, _Mapping]] = ..., frame_id: _Optional[int] = ..., mask_encoding: _Optional[_Union[MaskEncoding, str]] = ..., stream_options: _Optional[_Union[StreamOptions, _Mapping]] = ..., alpha: _Optional[bool] = ..., refine_edges: _Optional[bool] = ...) -> None: ...

class Mask(_message.Message):
    __slots__ = ("width", "height", "encoding", "data")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    encoding: MaskEncoding
    data: bytes
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., encoding: _Optional[_Union[MaskEncoding, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class ClassArea(_message.Message):
    __slots__ = ("class_id", "label", "fraction", "pixel_count")
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    PIXEL_COUNT_FIELD_NUMBER: _ClassVar[int]
    class_id: int
    label: str
    fraction: float
    pixel_count: int
    def __init__(self, class_id: _Optional[int] = ..., label: _Optional[str] = ..., fraction: _Optional[float] = ..., pixel_count: _Optional[int] = ...) -> None: ...

class Timings(_message.Message):
    __slots__ = ("decode_ms", "preprocess_ms", "inference_ms", "postprocess_ms", "encode_ms", "total_ms", "queue_ms")
    DECODE_MS_FIELD_NUMBER: _ClassVar[int]
    PREPROCESS_MS_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_MS_FIELD_NUMBER: _ClassVar[int]
    POSTPROCESS_MS_FIELD_NUMBER: _ClassVar[int]
    ENCODE_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_MS_FIELD_NUMBER: _ClassVar[int]
    decode_ms: float
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float
    encode_ms: float
    total_ms: float
    queue_ms: float
    def __init__(self, decode_ms: _Optional[float] = ..., preprocess_ms: _Optional[float] = ..., inference_ms: _Optional[float] = ..., postprocess_ms: _Optional[float] = ..., encode_ms: _Optional[float] = ..., total_ms: _Optional[float] = ..., queue_ms: _Optional[float] = ...) -> None: ...

class FrameError(_message.Message):
    __slots__ = ("code", "message", "reason")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    reason: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SegmentResponse(_message.Message):
    __slots__ = ("frame_id", "model", "mask", "classes", "timings", "frames_dropped", "error", "alpha")
    FRAME_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_DROPPED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    frame_id: int
    model: str
    mask: Mask
    classes: _containers.RepeatedCompositeFieldContainer[ClassArea]
    timings: Timings
    frames_dropped: int
    error: FrameError
    alpha: Mask
    def __init__(self, frame_id: _Optional[int] = ..., model: _Optional[str] = ..., mask: _Optional[_Union[Mask, _Mapping]] = ..., classes: _Optional[_Iterable[_Union[ClassArea, _Mapping]]] = ..., timings: _Optional[_Union[Timings, _Mapping]] = ..., frames_dropped: _Optional[int] = ..., error: _Optional[_Union[FrameError, _Mapping]] = ..., alpha: _Optional[_Union[Mask, _Mapping]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Color(_message.Message):
    __slots__ = ("r", "g", "b")
    R_FIELD_NUMBER: _ClassVar[int]
    G_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    r: int
    g: int
    b: int
    def __init__(self, r: _Optional[int] = ..., g: _Optional[int] = ..., b: _Optional[int] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("id", "runtime", "labels", "available", "unavailable_reason", "input_width", "input_height", "device", "palette", "description", "is_default", "licence", "source", "soft_mask")
    ID_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_REASON_FIELD_NUMBER: _ClassVar[int]
    INPUT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    INPUT_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    PALETTE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    LICENCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SOFT_MASK_FIELD_NUMBER: _ClassVar[int]
    id: str
    runtime: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    available: bool
    unavailable_reason: str
    input_width: int
    input_height: int
    device: str
    palette: _containers.RepeatedCompositeFieldContainer[Color]
    description: str
    is_default: bool
    licence: str
    source: str
    soft_mask: bool
    def __init__(self, id: _Optional[str] = ..., runtime: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., available: _Optional[bool] = ..., unavailable_reason: _Optional[str] = ..., input_width: _Optional[int] = ..., input_height: _Optional[int] = ..., device: _Optional[str] = ..., palette: _Optional[_Iterable[_Union[Color, _Mapping]]] = ..., description: _Optional[str] = ..., is_default: _Optional[bool] = ..., licence: _Optional[str] = ..., source: _Optional[str] = ..., soft_mask: _Optional[bool] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "default_model")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_MODEL_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    default_model: str
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., default_model: _Optional[str] = ...) -> None: ...
