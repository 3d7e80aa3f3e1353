"""The Open Inference Protocol over gRPC: modules generated from `grpc_predict_v2.proto` (`make proto`), the
service's method table, and the converters between its messages and the protocol's types."""
