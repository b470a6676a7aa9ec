//! Cutting an ONNX graph short: only the nodes a chosen tensor depends on are kept, and that
//! tensor becomes the graph's one output. A segmentation head that upsamples every class's
//! scores to full size only to take their argmax is work the app does far more cheaply itself
//! (`decode::ClassScores::upsampled_argmax`).
//!
//! The protobuf wire format is read and written directly: only the graph's nodes and outputs
//! change, every other field (weights included) is copied byte for byte.

use std::collections::HashSet;

// Field numbers of onnx.proto.
const MODEL_GRAPH: u32 = 7;
const GRAPH_NODE: u32 = 1;
const GRAPH_OUTPUT: u32 = 12;
const NODE_INPUT: u32 = 1;
const NODE_OUTPUT: u32 = 2;
const VALUE_INFO_NAME: u32 = 1;
const VALUE_INFO_TYPE: u32 = 2;
const TYPE_TENSOR: u32 = 1;
const TENSOR_ELEM_TYPE: u32 = 1;
/// `TensorProto.DataType.FLOAT`.
const ELEM_FLOAT: u64 = 1;

const WIRE_VARINT: u8 = 0;
const WIRE_I64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_I32: u8 = 5;

/// Why a graph could not be cut: the file is not the ONNX it claims to be, or lacks the tensor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphCutError {
    /// The bytes end inside a number or a field.
    #[error("the file ends inside a field")]
    Truncated,
    /// A varint longer than 64 bits.
    #[error("a number longer than 64 bits")]
    NumberTooLong,
    /// A wire type protobuf does not use for ONNX's fields.
    #[error("field {field} has wire type {wire}, not one ONNX uses")]
    WireType {
        /// The field's number.
        field: u32,
        /// Its wire type.
        wire: u8,
    },
    /// A tensor name that is not UTF-8.
    #[error("a tensor name is not UTF-8")]
    NotUtf8,
    /// No `graph` field.
    #[error("the file has no graph")]
    NoGraph,
    /// No node makes the tensor asked for.
    #[error("no node makes a tensor named `{0}`")]
    NoSuchTensor(String),
}

/// One field of a protobuf message.
struct Field<'a> {
    number: u32,
    wire: u8,
    /// The whole field, tag included, to copy it unchanged.
    raw: &'a [u8],
    /// The contents of a length-delimited field.
    payload: &'a [u8],
}

fn read_varint(bytes: &[u8], pos: &mut usize) -> Result<u64, GraphCutError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*pos).ok_or(GraphCutError::Truncated)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(GraphCutError::NumberTooLong)
}

fn fields(bytes: &[u8]) -> Result<Vec<Field<'_>>, GraphCutError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let start = pos;
        let tag = read_varint(bytes, &mut pos)?;
        let (number, wire) = ((tag >> 3) as u32, (tag & 7) as u8);
        let mut payload: &[u8] = &[];
        let skip = match wire {
            WIRE_VARINT => {
                read_varint(bytes, &mut pos)?;
                0
            }
            WIRE_I64 => 8,
            WIRE_I32 => 4,
            WIRE_LEN => {
                let len = usize::try_from(read_varint(bytes, &mut pos)?)
                    .map_err(|_| GraphCutError::Truncated)?;
                payload =
                    bytes.get(pos..pos.saturating_add(len)).ok_or(GraphCutError::Truncated)?;
                len
            }
            wire => return Err(GraphCutError::WireType { field: number, wire }),
        };
        pos = pos
            .checked_add(skip)
            .filter(|&end| end <= bytes.len())
            .ok_or(GraphCutError::Truncated)?;
        out.push(Field { number, wire, raw: &bytes[start..pos], payload });
    }
    Ok(out)
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn write_bytes(out: &mut Vec<u8>, number: u32, payload: &[u8]) {
    write_varint(out, u64::from(number) << 3 | u64::from(WIRE_LEN));
    write_varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// The strings of a repeated string field.
fn strings<'a>(message: &[Field<'a>], number: u32) -> Result<Vec<&'a str>, GraphCutError> {
    message
        .iter()
        .filter(|f| f.number == number && f.wire == WIRE_LEN)
        .map(|f| std::str::from_utf8(f.payload).map_err(|_| GraphCutError::NotUtf8))
        .collect()
}

/// `model` (ONNX bytes) with only the nodes `tensor` depends on, and `tensor` (a float tensor)
/// as its one output.
pub fn cut_at(model: &[u8], tensor: &str) -> Result<Vec<u8>, GraphCutError> {
    let top = fields(model)?;
    let graph = top
        .iter()
        .find(|f| f.number == MODEL_GRAPH && f.wire == WIRE_LEN)
        .ok_or(GraphCutError::NoGraph)?;
    let graph_fields = fields(graph.payload)?;
    let mut nodes = Vec::new();
    for field in graph_fields.iter().filter(|f| f.number == GRAPH_NODE) {
        let node = fields(field.payload)?;
        nodes.push((strings(&node, NODE_INPUT)?, strings(&node, NODE_OUTPUT)?));
    }
    if !nodes.iter().any(|(_, outputs)| outputs.contains(&tensor)) {
        return Err(GraphCutError::NoSuchTensor(tensor.to_owned()));
    }
    // ONNX keeps nodes in topological order: one walk back from the end finds every ancestor.
    let mut needed: HashSet<&str> = HashSet::from([tensor]);
    let mut keep = vec![false; nodes.len()];
    for (index, (inputs, outputs)) in nodes.iter().enumerate().rev() {
        if outputs.iter().any(|o| needed.contains(o)) {
            keep[index] = true;
            needed.extend(inputs.iter().filter(|i| !i.is_empty()));
        }
    }
    let mut new_graph = Vec::with_capacity(graph.payload.len());
    let mut node_index = 0;
    for field in &graph_fields {
        match field.number {
            GRAPH_NODE => {
                if keep[node_index] {
                    new_graph.extend_from_slice(field.raw);
                }
                node_index += 1;
            }
            GRAPH_OUTPUT => {}
            _ => new_graph.extend_from_slice(field.raw),
        }
    }
    let mut elem_type = Vec::new();
    write_varint(&mut elem_type, u64::from(TENSOR_ELEM_TYPE) << 3 | u64::from(WIRE_VARINT));
    write_varint(&mut elem_type, ELEM_FLOAT);
    let mut type_proto = Vec::new();
    write_bytes(&mut type_proto, TYPE_TENSOR, &elem_type);
    let mut output = Vec::new();
    write_bytes(&mut output, VALUE_INFO_NAME, tensor.as_bytes());
    write_bytes(&mut output, VALUE_INFO_TYPE, &type_proto);
    write_bytes(&mut new_graph, GRAPH_OUTPUT, &output);

    let mut out = Vec::with_capacity(model.len());
    for field in &top {
        if std::ptr::eq(field.raw, graph.raw) {
            write_bytes(&mut out, MODEL_GRAPH, &new_graph);
        } else {
            out.extend_from_slice(field.raw);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node message with the given inputs and outputs.
    fn node(inputs: &[&str], outputs: &[&str]) -> Vec<u8> {
        let mut n = Vec::new();
        for i in inputs {
            write_bytes(&mut n, NODE_INPUT, i.as_bytes());
        }
        for o in outputs {
            write_bytes(&mut n, NODE_OUTPUT, o.as_bytes());
        }
        n
    }

    fn model(nodes: &[Vec<u8>]) -> Vec<u8> {
        let mut graph = Vec::new();
        for n in nodes {
            write_bytes(&mut graph, GRAPH_NODE, n);
        }
        write_bytes(&mut graph, GRAPH_OUTPUT, b"\x0a\x03end");
        let mut m = Vec::new();
        write_varint(&mut m, 1 << 3);
        write_varint(&mut m, 8);
        write_bytes(&mut m, MODEL_GRAPH, &graph);
        m
    }

    #[test]
    fn only_the_ancestors_of_the_cut_remain_and_it_is_the_output() {
        // a -> b -> c -> end, and a side branch x -> y that nothing needs.
        let m = model(&[
            node(&["in"], &["a"]),
            node(&["in"], &["x"]),
            node(&["a", ""], &["b"]),
            node(&["x"], &["y"]),
            node(&["b"], &["c"]),
            node(&["c"], &["end"]),
        ]);
        let cut = cut_at(&m, "b").expect("cuts");
        let top = fields(&cut).expect("parses");
        assert_eq!(top[0].raw, &m[..2], "other fields are copied unchanged");
        let graph = fields(top[1].payload).expect("graph parses");
        let kept: Vec<Vec<&str>> = graph
            .iter()
            .filter(|f| f.number == GRAPH_NODE)
            .map(|f| strings(&fields(f.payload).expect("node"), NODE_OUTPUT).expect("names"))
            .collect();
        assert_eq!(kept, [vec!["a"], vec!["b"]]);
        let outputs: Vec<_> = graph.iter().filter(|f| f.number == GRAPH_OUTPUT).collect();
        assert_eq!(outputs.len(), 1);
        let info = fields(outputs[0].payload).expect("value info");
        assert_eq!(strings(&info, VALUE_INFO_NAME).expect("name"), ["b"]);
    }

    #[test]
    fn unknown_tensors_and_broken_files_are_errors() {
        let m = model(&[node(&["in"], &["a"])]);
        assert_eq!(cut_at(&m, "nowhere"), Err(GraphCutError::NoSuchTensor("nowhere".into())));
        assert_eq!(cut_at(&m[..m.len() - 3], "a"), Err(GraphCutError::Truncated));
        assert_eq!(cut_at(b"\x0f", "a"), Err(GraphCutError::WireType { field: 1, wire: 7 }));
        assert_eq!(cut_at(&[], "a"), Err(GraphCutError::NoGraph));
    }
}
