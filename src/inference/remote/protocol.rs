//! The Open Inference Protocol (KServe v2) over HTTP/REST with the binary tensor data
//! extension, as Triton Inference Server, KServe and MLServer speak it: model metadata, and
//! infer requests and responses made of a JSON header followed by raw little-endian tensors
//! (`Inference-Header-Content-Length` says where the JSON ends). Plain functions over bytes, so
//! every malformed answer can be tested without a server.

use serde::{Deserialize, Serialize};

/// Header naming the length of the JSON part of a binary request or response.
pub const HEADER_LENGTH: &str = "Inference-Header-Content-Length";

/// Element types the app sends and receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    /// 32-bit float.
    Fp32,
    /// 16-bit float (sent as is: half the bytes of fp32).
    Fp16,
    /// 64-bit integer.
    Int64,
    /// 32-bit integer.
    Int32,
    /// 8-bit unsigned integer.
    Uint8,
}

impl DataType {
    /// The protocol's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fp32 => "FP32",
            Self::Fp16 => "FP16",
            Self::Int64 => "INT64",
            Self::Int32 => "INT32",
            Self::Uint8 => "UINT8",
        }
    }

    /// Parses a protocol name; `None` for types the app does not handle (BYTES, BOOL, ...).
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Fp32, Self::Fp16, Self::Int64, Self::Int32, Self::Uint8]
            .into_iter()
            .find(|t| t.name() == name)
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::Fp32 | Self::Int32 => 4,
            Self::Fp16 => 2,
            Self::Int64 => 8,
            Self::Uint8 => 1,
        }
    }
}

/// One tensor as it travels: name, type, shape and little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    /// Input or output name.
    pub name: String,
    /// Element type.
    pub datatype: DataType,
    /// Shape.
    pub shape: Vec<usize>,
    /// `shape.product() * datatype.size()` bytes.
    pub data: Vec<u8>,
}

/// A tensor a model declares: `-1` marks a free dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorMetadata {
    /// Its name.
    pub name: String,
    /// Its element type, as the server spells it.
    pub datatype: String,
    /// Its shape.
    pub shape: Vec<i64>,
}

/// `GET /v2/models/{name}`: what the server says a model takes and gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelMetadata {
    /// The model's name.
    pub name: String,
    /// Versions served.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Its inputs.
    pub inputs: Vec<TensorMetadata>,
    /// Its outputs.
    pub outputs: Vec<TensorMetadata>,
}

#[derive(Serialize)]
struct RequestInput<'a> {
    name: &'a str,
    shape: &'a [usize],
    datatype: &'static str,
    parameters: BinarySize,
}

#[derive(Serialize)]
struct BinarySize {
    binary_data_size: usize,
}

#[derive(Serialize)]
struct RequestOutput<'a> {
    name: &'a str,
    parameters: BinaryData,
}

#[derive(Serialize)]
struct BinaryData {
    binary_data: bool,
}

#[derive(Serialize)]
struct Request<'a> {
    inputs: Vec<RequestInput<'a>>,
    outputs: Vec<RequestOutput<'a>>,
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    outputs: Vec<ResponseOutput>,
}

#[derive(Deserialize)]
struct ResponseOutput {
    name: String,
    datatype: String,
    shape: Vec<i64>,
    #[serde(default)]
    parameters: Option<ResponseParameters>,
}

#[derive(Deserialize)]
struct ResponseParameters {
    binary_data_size: Option<usize>,
}

/// An infer request body and the length of its JSON header.
pub fn encode_request(inputs: &[RawTensor], outputs: &[&str]) -> (Vec<u8>, usize) {
    let request = Request {
        inputs: inputs
            .iter()
            .map(|t| RequestInput {
                name: &t.name,
                shape: &t.shape,
                datatype: t.datatype.name(),
                parameters: BinarySize { binary_data_size: t.data.len() },
            })
            .collect(),
        outputs: outputs
            .iter()
            .map(|name| RequestOutput { name, parameters: BinaryData { binary_data: true } })
            .collect(),
    };
    let mut body = serde_json::to_vec(&request).expect("a request of plain fields serializes");
    let header_length = body.len();
    body.reserve(inputs.iter().map(|t| t.data.len()).sum());
    for tensor in inputs {
        body.extend_from_slice(&tensor.data);
    }
    (body, header_length)
}

/// What is wrong with a server's answer, in the protocol's terms.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolProblem {
    /// The body ends before what its header or an output says it holds.
    #[error("the answer is cut short: {needed} bytes are needed, the body has {body}")]
    CutShort {
        /// Bytes the header or the outputs account for.
        needed: usize,
        /// Bytes the body has.
        body: usize,
    },
    /// The JSON is not an inference response.
    #[error("the answer is not an inference response ({cause}): {preview}")]
    NotAResponse {
        /// serde's account.
        cause: serde_json::Error,
        /// The start of the body.
        preview: String,
    },
    /// The model metadata is not the protocol's.
    #[error("the model metadata is not the protocol's ({cause}): {message}")]
    NotMetadata {
        /// serde's account.
        cause: serde_json::Error,
        /// The server's words, or the start of the body.
        message: String,
    },
    /// A tensor of an element type the app cannot send or read.
    #[error("`{name}` has datatype {datatype}, which the app cannot send or read")]
    Datatype {
        /// The tensor.
        name: String,
        /// Its datatype as the server spells it.
        datatype: String,
    },
    /// An output with a negative dimension.
    #[error("output `{name}` has a negative dimension: {shape:?}")]
    NegativeDimension {
        /// The output.
        name: String,
        /// Its shape as sent.
        shape: Vec<i64>,
    },
    /// An output whose size overflows.
    #[error("output `{name}` shape {shape:?} is too large")]
    TooLarge {
        /// The output.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// An output sent as JSON numbers: the server ignores the binary tensor extension.
    #[error(
        "output `{name}` came as JSON, not binary data; the server ignores the binary tensor extension"
    )]
    NotBinary {
        /// The output.
        name: String,
    },
    /// An output's byte count does not match its shape.
    #[error("output `{name}` has {size} bytes, but {shape:?} of {datatype} needs {expected}")]
    WrongSize {
        /// The output.
        name: String,
        /// Bytes sent.
        size: usize,
        /// Its shape.
        shape: Vec<usize>,
        /// Its element type.
        datatype: &'static str,
        /// Bytes its shape needs.
        expected: usize,
    },
    /// Bytes after the last output.
    #[error("{0} unexplained bytes after the last output")]
    Trailing(usize),
    /// An output asked for is missing from the answer.
    #[error("the answer has no output `{0}`")]
    NoOutput(String),
    /// The body could not be read in full.
    #[error("the answer is cut short or unreadable (HTTP {status}): {cause}")]
    Unreadable {
        /// The HTTP status.
        status: u16,
        /// The transport's account.
        cause: ureq::Error,
    },
}

/// Reads a binary infer response: the JSON header (`header_length` bytes, or the whole body when
/// the server sent plain JSON) and each output's bytes after it, in order. Every inconsistency
/// is an error saying what is wrong.
pub fn decode_response(
    body: &[u8],
    header_length: Option<usize>,
) -> Result<Vec<RawTensor>, ProtocolProblem> {
    let header_length = header_length.unwrap_or(body.len());
    if header_length > body.len() {
        return Err(ProtocolProblem::CutShort { needed: header_length, body: body.len() });
    }
    let header = &body[..header_length];
    let response: Response = serde_json::from_slice(header)
        .map_err(|cause| ProtocolProblem::NotAResponse { cause, preview: preview(header) })?;
    let mut offset = header_length;
    let mut tensors = Vec::with_capacity(response.outputs.len());
    for output in response.outputs {
        let Some(datatype) = DataType::parse(&output.datatype) else {
            return Err(ProtocolProblem::Datatype { name: output.name, datatype: output.datatype });
        };
        let dimensions = output.shape.iter().map(|&d| usize::try_from(d));
        let Ok(shape) = dimensions.collect::<Result<Vec<usize>, _>>() else {
            return Err(ProtocolProblem::NegativeDimension {
                name: output.name,
                shape: output.shape,
            });
        };
        let Some(expected) = shape.iter().try_fold(datatype.size(), |n, &d| n.checked_mul(d))
        else {
            return Err(ProtocolProblem::TooLarge { name: output.name, shape });
        };
        let Some(size) = output.parameters.and_then(|p| p.binary_data_size) else {
            return Err(ProtocolProblem::NotBinary { name: output.name });
        };
        if size != expected {
            return Err(ProtocolProblem::WrongSize {
                name: output.name,
                size,
                shape,
                datatype: datatype.name(),
                expected,
            });
        }
        let data = body
            .get(offset..offset + size)
            .ok_or(ProtocolProblem::CutShort { needed: offset + size, body: body.len() })?;
        offset += size;
        tensors.push(RawTensor { name: output.name, datatype, shape, data: data.to_vec() });
    }
    if offset != body.len() {
        return Err(ProtocolProblem::Trailing(body.len() - offset));
    }
    Ok(tensors)
}

/// The server's own words from an error body (`{"error": "..."}`), else the start of the body.
pub fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) => parsed.error,
        Err(_) => preview(body),
    }
}

/// The first bytes of a body as text, for error messages.
fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(160)]);
    if text.trim().is_empty() { "(empty)".into() } else { text.trim().to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(name: &str, datatype: DataType, shape: &[usize], fill: u8) -> RawTensor {
        let len = shape.iter().product::<usize>() * datatype.size();
        RawTensor { name: name.into(), datatype, shape: shape.to_vec(), data: vec![fill; len] }
    }

    /// A response as Triton writes it (field order and parameters as it sends them).
    fn response(outputs: &[RawTensor]) -> (Vec<u8>, usize) {
        let entries: Vec<String> = outputs
            .iter()
            .map(|t| {
                format!(
                    r#"{{"name":"{}","datatype":"{}","shape":{:?},"parameters":{{"binary_data_size":{}}}}}"#,
                    t.name,
                    t.datatype.name(),
                    t.shape,
                    t.data.len()
                )
            })
            .collect();
        let mut body = format!(
            r#"{{"model_name":"unet","model_version":"1","outputs":[{}]}}"#,
            entries.join(",")
        )
        .into_bytes();
        let header = body.len();
        for t in outputs {
            body.extend_from_slice(&t.data);
        }
        (body, header)
    }

    #[test]
    fn a_request_is_json_then_raw_tensors_in_order() {
        let inputs = [
            tensor("sample", DataType::Fp16, &[1, 4, 2, 2], 7),
            tensor("timestep", DataType::Int64, &[1], 9),
        ];
        let (body, header) = encode_request(&inputs, &["out_sample"]);
        let json: serde_json::Value = serde_json::from_slice(&body[..header]).expect("json");
        assert_eq!(json["inputs"][0]["datatype"], "FP16");
        assert_eq!(json["inputs"][0]["parameters"]["binary_data_size"], 32);
        assert_eq!(json["inputs"][1]["shape"], serde_json::json!([1]));
        assert_eq!(json["outputs"][0]["parameters"]["binary_data"], true);
        assert_eq!(body.len(), header + 32 + 8, "fp16 goes as 2 bytes per value, not widened");
        assert!(body[header..header + 32].iter().all(|&b| b == 7));
        assert!(body[header + 32..].iter().all(|&b| b == 9));
    }

    #[test]
    fn a_response_round_trips() {
        let outputs = [
            tensor("logits", DataType::Fp32, &[1, 2, 3], 1),
            tensor("class_map", DataType::Int64, &[1, 3], 2),
        ];
        let (body, header) = response(&outputs);
        assert_eq!(decode_response(&body, Some(header)).expect("decodes"), outputs);
    }

    #[test]
    fn broken_responses_are_explained() {
        let outputs = [tensor("out", DataType::Fp32, &[2, 2], 3)];
        let (body, header) = response(&outputs);
        let cut =
            decode_response(&body[..body.len() - 5], Some(header)).expect_err("cut").to_string();
        assert!(cut.contains("cut short"), "{cut}");
        let header_past_end =
            decode_response(&body[..10], Some(header)).expect_err("short").to_string();
        assert!(header_past_end.contains("cut short"), "{header_past_end}");
        let html =
            decode_response(b"<html>502 Bad Gateway</html>", None).expect_err("html").to_string();
        assert!(html.contains("not an inference response") && html.contains("502"), "{html}");
        let mut extra = body.clone();
        extra.extend_from_slice(&[0; 3]);
        assert!(
            decode_response(&extra, Some(header))
                .expect_err("extra")
                .to_string()
                .contains("unexplained")
        );
        let wrong_size = String::from_utf8_lossy(&body[..header])
            .replace("\"binary_data_size\":16", "\"binary_data_size\":12");
        let mut bad = wrong_size.into_bytes();
        let bad_header = bad.len();
        bad.extend_from_slice(&body[header..]);
        let text = decode_response(&bad, Some(bad_header)).expect_err("size").to_string();
        assert!(text.contains("has 12 bytes"), "{text}");
        let json_only =
            br#"{"outputs":[{"name":"out","datatype":"FP32","shape":[1],"data":[1.0]}]}"#;
        assert!(decode_response(json_only, None).expect_err("json").to_string().contains("binary"));
        let strange = br#"{"outputs":[{"name":"out","datatype":"BYTES","shape":[1]}]}"#;
        assert!(decode_response(strange, None).expect_err("bytes").to_string().contains("BYTES"));
    }

    #[test]
    fn server_errors_are_read_from_their_json() {
        assert_eq!(
            error_message(br#"{"error":"Request for unknown model: 'nope' is not found"}"#),
            "Request for unknown model: 'nope' is not found"
        );
        assert_eq!(error_message(b"upstream timed out"), "upstream timed out");
        assert_eq!(error_message(b""), "(empty)");
    }
}
