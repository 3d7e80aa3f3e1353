"""Protobuf messages to the protocol's types and back, both sides, and a clear error for each malformed part."""

from __future__ import annotations

import numpy as np
import pytest

from modelyard.errors import InvalidArgument
from modelyard.protocol.grpc import grpc_predict_v2_pb2 as pb
from modelyard.protocol.grpc.convert import infer_request, infer_result, to_reply, to_request
from modelyard.protocol.types import InferOutput, InferResponse

Tensor = pb.ModelInferRequest.InferInputTensor


def test_a_callers_request_reaches_the_server_as_it_was_sent() -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    names = np.array([b"a", "βeta".encode()], dtype=object)
    message = pb.ModelInferRequest.FromString(
        infer_request("fraud@production", None, {"x": x, "names": names}, ["y"]).SerializeToString()
    )
    assert (message.model_name, message.model_version) == ("fraud@production", "")
    request = to_request(message)
    np.testing.assert_array_equal(request.inputs[0].data, x)
    assert request.inputs[1].data.tolist() == [b"a", "βeta".encode()]
    assert [o.name for o in request.outputs or []] == ["y"]
    assert infer_request("fraud", "3", {"x": x}).model_version == "3"


def test_a_reply_reaches_the_caller_shaped() -> None:
    y = np.array([[1.5], [2.5]], dtype=np.float32)
    reply = pb.ModelInferResponse.FromString(
        to_reply(InferResponse("m", "2", [InferOutput("y", "FP32", y)], id="r")).SerializeToString()
    )
    result = infer_result(reply)
    assert (result.model_name, result.model_version, reply.id) == ("m", "2", "r")
    np.testing.assert_array_equal(result.outputs["y"], y)


@pytest.mark.parametrize(
    ("tensor", "text"),
    [
        (Tensor(name="x", datatype="INT8", shape=[1], contents=pb.InferTensorContents(int_contents=[1000])),
         r"inputs\[0\] 'x'.contents.int_contents: not valid INT8"),
        (Tensor(name="x", datatype="FP32", shape=[1] * 65), r"'x'.shape: has 65 dimensions; at most 64"),
        (Tensor(name="x", datatype="FLOAT", shape=[1]), r"'x'.datatype"),
        (Tensor(name="x", datatype="FP16", shape=[1]), "FP16 tensors must be sent as raw_input_contents"),
        (Tensor(name="x", datatype="FP32", shape=[2], contents=pb.InferTensorContents(fp32_contents=[1])),
         "has 1 elements but the shape needs 2"),
        (Tensor(name="", datatype="FP32", shape=[1]), r"inputs\[0\].name"),
    ],
)  # fmt: skip
def test_malformed_tensors_are_invalid_arguments_naming_the_field(tensor: object, text: str) -> None:
    with pytest.raises(InvalidArgument, match=text):
        to_request(pb.ModelInferRequest(model_name="m", inputs=[tensor]))


def test_raw_contents_must_match_the_inputs() -> None:
    tensor = Tensor(name="x", datatype="FP32", shape=[1])
    with pytest.raises(InvalidArgument, match="raw_input_contents: 2 entries for 1 inputs"):
        to_request(pb.ModelInferRequest(model_name="m", inputs=[tensor], raw_input_contents=[b"\0" * 4] * 2))
    with pytest.raises(InvalidArgument, match="binary_data_size is 3 bytes"):
        to_request(pb.ModelInferRequest(model_name="m", inputs=[tensor], raw_input_contents=[b"\0" * 3]))
