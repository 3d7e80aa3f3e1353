from modelyard.packaging.pbtxt import first, parse_pbtxt

CONFIG = """
name: "fraud"   # a comment
platform: "onnxruntime_onnx"
max_batch_size: 32
input [
  { name: "x" data_type: TYPE_FP32 dims: [ 32 ] },
  { name: "ids", data_type: TYPE_INT64, dims: [ -1 ] }
]
dynamic_batching {
  preferred_batch_size: [ 8, 16 ]
  max_queue_delay_microseconds: 500
  default_queue_policy { max_queue_size: 100 }
}
instance_group [ { count: 2 kind: KIND_CPU } ]
instance_group { count: 1, kind: KIND_GPU }
parameters { key: "x" value: { string_value: "a\\"b" } }
"""


def test_parses_triton_config() -> None:
    config = parse_pbtxt(CONFIG)
    assert first(config, "name") == "fraud"
    assert first(config, "max_batch_size") == 32
    assert [i["name"] for i in config["input"]] == [["x"], ["ids"]]
    assert config["input"][1]["dims"] == [-1]
    batching = first(config, "dynamic_batching")
    assert batching["preferred_batch_size"] == [8, 16]
    assert first(first(batching, "default_queue_policy"), "max_queue_size") == 100
    assert [first(g, "count") for g in config["instance_group"]] == [2, 1]
    assert first(first(first(config, "parameters"), "value"), "string_value") == 'a"b'
