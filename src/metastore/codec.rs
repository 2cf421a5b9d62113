//! Thrift's binary protocol, strictly bounded. The Hive client writes unframed messages, so a
//! message's end is only known by walking its structure: `Scanner` does that incrementally as
//! bytes arrive, enforcing every limit (message size, string size, element counts, nesting
//! depth) before anything is allocated; `Reader` then decodes the complete message, `Writer`
//! encodes replies. Anything malformed is an error value, never a panic.

use std::collections::BTreeMap;

pub const STOP: u8 = 0;
pub const BOOL: u8 = 2;
pub const BYTE: u8 = 3;
pub const DOUBLE: u8 = 4;
pub const I16: u8 = 6;
pub const I32: u8 = 8;
pub const I64: u8 = 10;
pub const STRING: u8 = 11;
pub const STRUCT: u8 = 12;
pub const MAP: u8 = 13;
pub const SET: u8 = 14;
pub const LIST: u8 = 15;

/// Message types of the strict header.
pub const CALL: u8 = 1;
pub const REPLY: u8 = 2;
pub const EXCEPTION: u8 = 3;
pub const ONEWAY: u8 = 4;

const VERSION_1: u32 = 0x8001_0000;
const VERSION_MASK: u32 = 0xffff_0000;

/// Bounds on what a peer may send: a Hive client's largest messages are partition batches of a
/// few MiB; anything past these is hostile or broken and closes the connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_message: usize,
    pub max_string: usize,
    pub max_elements: usize,
    pub max_depth: usize,
    pub max_method_name: usize,
}

pub const LIMITS: Limits = Limits {
    max_message: 64 << 20,
    max_string: 16 << 20,
    max_elements: 1 << 20,
    max_depth: 32,
    max_method_name: 256,
};

/// Why bytes are not a valid message. Framing errors close the connection (the stream position
/// is lost); decode errors inside a complete message are answered and the connection goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("not a strict binary protocol header (version word {0:#010x})")]
    BadVersion(u32),
    #[error("method name of {0} bytes exceeds the limit")]
    NameTooLong(i64),
    #[error("message exceeds {0} bytes")]
    MessageTooLarge(usize),
    #[error("string of {0} bytes exceeds the limit")]
    StringTooLarge(i64),
    #[error("container of {0} elements exceeds the limit")]
    TooManyElements(i64),
    #[error("nesting deeper than {0}")]
    TooDeep(usize),
    #[error("unknown field type {0}")]
    BadType(u8),
    #[error("message ends early")]
    Truncated,
    #[error("string is not UTF-8")]
    NotUtf8,
}

/// Where scanning a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// The first message in the buffer is complete and this many bytes long.
    Complete(usize),
    /// More bytes are needed.
    Incomplete,
}

#[derive(Debug, Clone, Copy)]
enum Task {
    Value(u8),
    Fields,
    Elements { ty: u8, left: u32 },
    Pairs { key: u8, value: u8, left: u32 },
}

/// Finds where a message ends, resuming where it stopped when more bytes arrive (so a large
/// message read in many chunks is walked once).
#[derive(Debug, Default)]
pub struct Scanner {
    pos: usize,
    stack: Vec<Task>,
    depth: usize,
    in_body: bool,
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl Scanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Scans `buf` (the bytes received so far, from the message start).
    pub fn scan(&mut self, buf: &[u8], limits: &Limits) -> Result<Scan, ProtocolError> {
        if !self.in_body {
            match self.header(buf, limits)? {
                Some(end) => {
                    self.pos = end;
                    self.in_body = true;
                    self.stack.push(Task::Value(STRUCT));
                }
                None => return Ok(Scan::Incomplete),
            }
        }
        while let Some(task) = self.stack.pop() {
            if !self.step(task, buf, limits)? {
                self.stack.push(task);
                if buf.len() >= limits.max_message {
                    return Err(ProtocolError::MessageTooLarge(limits.max_message));
                }
                return Ok(Scan::Incomplete);
            }
        }
        Ok(Scan::Complete(self.pos))
    }

    /// The header's length once it is all there.
    fn header(&self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, ProtocolError> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let version = be_u32(buf);
        if version & VERSION_MASK != VERSION_1 {
            return Err(ProtocolError::BadVersion(version));
        }
        let name_len = i64::from(be_u32(&buf[4..]) as i32);
        if name_len < 0 || name_len as usize > limits.max_method_name {
            return Err(ProtocolError::NameTooLong(name_len));
        }
        let end = 8 + name_len as usize + 4;
        Ok((buf.len() >= end).then_some(end))
    }

    fn available(&self, buf: &[u8], n: usize, limits: &Limits) -> Result<bool, ProtocolError> {
        if self.pos + n > limits.max_message {
            return Err(ProtocolError::MessageTooLarge(limits.max_message));
        }
        Ok(buf.len() >= self.pos + n)
    }

    fn enter(&mut self, limits: &Limits) -> Result<(), ProtocolError> {
        self.depth += 1;
        if self.depth > limits.max_depth {
            return Err(ProtocolError::TooDeep(limits.max_depth));
        }
        Ok(())
    }

    fn count(raw: u32, limits: &Limits) -> Result<u32, ProtocolError> {
        let n = i64::from(raw as i32);
        if n < 0 || n as usize > limits.max_elements {
            return Err(ProtocolError::TooManyElements(n));
        }
        Ok(n as u32)
    }

    /// Consumes one task if its bytes are there; false if more are needed.
    fn step(&mut self, task: Task, buf: &[u8], limits: &Limits) -> Result<bool, ProtocolError> {
        match task {
            Task::Value(ty) => {
                let fixed = match ty {
                    BOOL | BYTE => Some(1),
                    I16 => Some(2),
                    I32 => Some(4),
                    I64 | DOUBLE => Some(8),
                    _ => None,
                };
                if let Some(n) = fixed {
                    if !self.available(buf, n, limits)? {
                        return Ok(false);
                    }
                    self.pos += n;
                    return Ok(true);
                }
                match ty {
                    STRING => {
                        if !self.available(buf, 4, limits)? {
                            return Ok(false);
                        }
                        let len = i64::from(be_u32(&buf[self.pos..]) as i32);
                        if len < 0 || len as usize > limits.max_string {
                            return Err(ProtocolError::StringTooLarge(len));
                        }
                        if !self.available(buf, 4 + len as usize, limits)? {
                            return Ok(false);
                        }
                        self.pos += 4 + len as usize;
                    }
                    STRUCT => {
                        self.enter(limits)?;
                        self.stack.push(Task::Fields);
                    }
                    LIST | SET => {
                        if !self.available(buf, 5, limits)? {
                            return Ok(false);
                        }
                        let elem = buf[self.pos];
                        check_type(elem)?;
                        let left = Self::count(be_u32(&buf[self.pos + 1..]), limits)?;
                        self.enter(limits)?;
                        self.pos += 5;
                        self.stack.push(Task::Elements { ty: elem, left });
                    }
                    MAP => {
                        if !self.available(buf, 6, limits)? {
                            return Ok(false);
                        }
                        let (key, value) = (buf[self.pos], buf[self.pos + 1]);
                        check_type(key)?;
                        check_type(value)?;
                        let left = Self::count(be_u32(&buf[self.pos + 2..]), limits)?;
                        self.enter(limits)?;
                        self.pos += 6;
                        self.stack.push(Task::Pairs { key, value, left });
                    }
                    other => return Err(ProtocolError::BadType(other)),
                }
            }
            Task::Fields => {
                if !self.available(buf, 1, limits)? {
                    return Ok(false);
                }
                let ty = buf[self.pos];
                if ty == STOP {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(true);
                }
                check_type(ty)?;
                if !self.available(buf, 3, limits)? {
                    return Ok(false);
                }
                self.pos += 3;
                self.stack.push(Task::Fields);
                self.stack.push(Task::Value(ty));
            }
            Task::Elements { ty, left } => {
                if left == 0 {
                    self.depth -= 1;
                } else {
                    self.stack.push(Task::Elements { ty, left: left - 1 });
                    self.stack.push(Task::Value(ty));
                }
            }
            Task::Pairs { key, value, left } => {
                if left == 0 {
                    self.depth -= 1;
                } else {
                    self.stack.push(Task::Pairs {
                        key,
                        value,
                        left: left - 1,
                    });
                    self.stack.push(Task::Value(value));
                    self.stack.push(Task::Value(key));
                }
            }
        }
        Ok(true)
    }
}

fn check_type(ty: u8) -> Result<(), ProtocolError> {
    match ty {
        BOOL | BYTE | DOUBLE | I16 | I32 | I64 | STRING | STRUCT | MAP | SET | LIST => Ok(()),
        other => Err(ProtocolError::BadType(other)),
    }
}

/// A message's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub kind: u8,
    pub seqid: i32,
}

/// Decodes a complete message (one `Scanner` accepted, so its structure is known to be sound;
/// every read is still bounds-checked).
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        let end = self.pos.checked_add(n).ok_or(ProtocolError::Truncated)?;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or(ProtocolError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    pub fn header(&mut self) -> Result<Header, ProtocolError> {
        let version = self.i32()? as u32;
        if version & VERSION_MASK != VERSION_1 {
            return Err(ProtocolError::BadVersion(version));
        }
        let name = self.string()?;
        let seqid = self.i32()?;
        Ok(Header {
            name,
            kind: (version & 0xff) as u8,
            seqid,
        })
    }

    pub fn byte(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.take(1)?[0])
    }

    pub fn i16(&mut self) -> Result<i16, ProtocolError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    pub fn i32(&mut self) -> Result<i32, ProtocolError> {
        Ok(be_u32(self.take(4)?) as i32)
    }

    pub fn i64(&mut self) -> Result<i64, ProtocolError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    fn length(&mut self) -> Result<usize, ProtocolError> {
        usize::try_from(self.i32()?).map_err(|_| ProtocolError::Truncated)
    }

    pub fn string(&mut self) -> Result<String, ProtocolError> {
        let len = self.length()?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| ProtocolError::NotUtf8)
    }

    /// A container's element type and count.
    pub fn list_header(&mut self) -> Result<(u8, usize), ProtocolError> {
        let ty = self.byte()?;
        Ok((ty, self.length()?))
    }

    pub fn map_header(&mut self) -> Result<(u8, u8, usize), ProtocolError> {
        let (k, v) = (self.byte()?, self.byte()?);
        Ok((k, v, self.length()?))
    }

    /// Reads a struct's fields, calling `field` for each (id, type); it must consume the value.
    pub fn fields(
        &mut self,
        mut field: impl FnMut(&mut Self, i16, u8) -> Result<(), ProtocolError>,
    ) -> Result<(), ProtocolError> {
        loop {
            let ty = self.byte()?;
            if ty == STOP {
                return Ok(());
            }
            let id = self.i16()?;
            field(self, id, ty)?;
        }
    }

    /// Skips a value (unknown fields, fields of an unexpected type, unknown methods' args).
    pub fn skip(&mut self, ty: u8) -> Result<(), ProtocolError> {
        match ty {
            BOOL | BYTE => self.take(1).map(drop),
            I16 => self.take(2).map(drop),
            I32 => self.take(4).map(drop),
            I64 | DOUBLE => self.take(8).map(drop),
            STRING => {
                let len = self.length()?;
                self.take(len).map(drop)
            }
            STRUCT => self.fields(|r, _, ty| r.skip(ty)),
            LIST | SET => {
                let (elem, n) = self.list_header()?;
                (0..n).try_for_each(|_| self.skip(elem))
            }
            MAP => {
                let (k, v, n) = self.map_header()?;
                (0..n).try_for_each(|_| {
                    self.skip(k)?;
                    self.skip(v)
                })
            }
            other => Err(ProtocolError::BadType(other)),
        }
    }
}

/// Encodes a message.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn header(&mut self, name: &str, kind: u8, seqid: i32) {
        self.i32((VERSION_1 | u32::from(kind)) as i32);
        self.string(name);
        self.i32(seqid);
    }

    pub fn byte(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn string(&mut self, v: &str) {
        self.i32(v.len() as i32);
        self.buf.extend_from_slice(v.as_bytes());
    }

    pub fn field(&mut self, ty: u8, id: i16) {
        self.byte(ty);
        self.i16(id);
    }

    pub fn stop(&mut self) {
        self.byte(STOP);
    }

    pub fn list_header(&mut self, ty: u8, n: usize) {
        self.byte(ty);
        self.i32(n as i32);
    }
}

/// A value with a Thrift type: the field types of the messages.
pub trait Value: Sized {
    const TYPE: u8;
    fn read(r: &mut Reader<'_>) -> Result<Self, ProtocolError>;
    fn write(&self, w: &mut Writer);
}

impl Value for bool {
    const TYPE: u8 = BOOL;
    fn read(r: &mut Reader<'_>) -> Result<Self, ProtocolError> {
        Ok(r.byte()? != 0)
    }
    fn write(&self, w: &mut Writer) {
        w.byte(u8::from(*self));
    }
}

impl Value for i16 {
    const TYPE: u8 = I16;
    fn read(r: &mut Reader<'_>) -> Result<Self, ProtocolError> {
        r.i16()
    }
    fn write(&self, w: &mut Writer) {
        w.i16(*self);
    }
}

impl Value for i32 {
    const TYPE: u8 = I32;
    fn read(r: &mut Reader<'_>) -> Result<Self, ProtocolError> {
        r.i32()
    }
    fn write(&self, w: &mut Writer) {
        w.i32(*self);
    }
}

impl Value for i64 {
    const TYPE: u8 = I64;
    fn read(r: &mut Reader<'_>) -> Result<Self, ProtocolError> {
        r.i64()
    }
    fn write(&self, w: &mut Writer) {
        w.i64(*self);
    }
}

impl Value for String {
    const TYPE: u8 = STRING;
    fn read(r: &mut Reader<'_>) -> Result<Self, ProtocolError> {
        r.string()
    }
    fn write(&self, w: &mut Writer) {
        w.string(self);
    }
}

/// Elements of an unexpected type are skipped, as Thrift's generated readers do for fields.
impl<T: Value> Value for Vec<T> {
    const TYPE: u8 = LIST;
    fn read(r: &mut Reader<'_>) -> Result<Self, ProtocolError> {
        let (ty, n) = r.list_header()?;
        if ty != T::TYPE {
            (0..n).try_for_each(|_| r.skip(ty))?;
            return Ok(Vec::new());
        }
        // The count was bounded by the scanner; capacity stays small regardless.
        let mut items = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            items.push(T::read(r)?);
        }
        Ok(items)
    }
    fn write(&self, w: &mut Writer) {
        w.list_header(T::TYPE, self.len());
        self.iter().for_each(|v| v.write(w));
    }
}

impl<K: Value + Ord, V: Value> Value for BTreeMap<K, V> {
    const TYPE: u8 = MAP;
    fn read(r: &mut Reader<'_>) -> Result<Self, ProtocolError> {
        let (kt, vt, n) = r.map_header()?;
        let mut map = BTreeMap::new();
        for _ in 0..n {
            if kt == K::TYPE && vt == V::TYPE {
                let k = K::read(r)?;
                map.insert(k, V::read(r)?);
            } else {
                r.skip(kt)?;
                r.skip(vt)?;
            }
        }
        Ok(map)
    }
    fn write(&self, w: &mut Writer) {
        w.byte(K::TYPE);
        w.byte(V::TYPE);
        w.i32(self.len() as i32);
        for (k, v) in self {
            k.write(w);
            v.write(w);
        }
    }
}

/// Declares a Thrift struct: every field optional (absent on the wire = `None`), unknown or
/// mistyped fields skipped on read, absent ones omitted on write.
macro_rules! thrift_struct {
    ($(#[$meta:meta])* pub struct $name:ident {
        $($(#[$fmeta:meta])* $id:literal : $field:ident : $ty:ty),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: Option<$ty>,)*
        }

        impl $crate::metastore::codec::Value for $name {
            const TYPE: u8 = $crate::metastore::codec::STRUCT;

            fn read(
                r: &mut $crate::metastore::codec::Reader<'_>,
            ) -> Result<Self, $crate::metastore::codec::ProtocolError> {
                #[allow(unused_mut)]
                let mut value = Self::default();
                r.fields(|r, id, ty| {
                    match id {
                        $($id if ty == <$ty as $crate::metastore::codec::Value>::TYPE => {
                            value.$field = Some(<$ty as $crate::metastore::codec::Value>::read(r)?);
                        })*
                        _ => r.skip(ty)?,
                    }
                    Ok(())
                })?;
                Ok(value)
            }

            fn write(&self, _w: &mut $crate::metastore::codec::Writer) {
                $(if let Some(v) = &self.$field {
                    _w.field(<$ty as $crate::metastore::codec::Value>::TYPE, $id);
                    $crate::metastore::codec::Value::write(v, _w);
                })*
                _w.stop();
            }
        }
    };
}
pub(crate) use thrift_struct;

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, body: &[u8]) -> Vec<u8> {
        let mut w = Writer::new();
        w.header(name, CALL, 7);
        w.buf.extend_from_slice(body);
        w.buf
    }

    #[test]
    fn scanner_finds_the_end_across_chunks() {
        // struct { 1: string "ab", 2: list<i32> [1, 2] }
        let body = [
            STRING, 0, 1, 0, 0, 0, 2, b'a', b'b', LIST, 0, 2, I32, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0,
            2, STOP,
        ];
        let msg = call("m", &body);
        let mut scanner = Scanner::new();
        for end in 0..msg.len() {
            assert_eq!(scanner.scan(&msg[..end], &LIMITS), Ok(Scan::Incomplete));
        }
        assert_eq!(scanner.scan(&msg, &LIMITS), Ok(Scan::Complete(msg.len())));
    }

    #[test]
    fn scanner_refuses_what_exceeds_limits() {
        let huge_string = call("m", &[STRING, 0, 1, 0x7f, 0xff, 0xff, 0xff]);
        assert!(matches!(
            Scanner::new().scan(&huge_string, &LIMITS),
            Err(ProtocolError::StringTooLarge(_))
        ));
        let negative = call("m", &[LIST, 0, 1, I32, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            Scanner::new().scan(&negative, &LIMITS),
            Err(ProtocolError::TooManyElements(-1))
        ));
        let mut deep = Vec::new();
        for _ in 0..40 {
            deep.extend_from_slice(&[STRUCT, 0, 1]);
        }
        assert!(matches!(
            Scanner::new().scan(&call("m", &deep), &LIMITS),
            Err(ProtocolError::TooDeep(_))
        ));
        assert!(matches!(
            Scanner::new().scan(b"GET / HTTP/1.1\r\n", &LIMITS),
            Err(ProtocolError::BadVersion(_))
        ));
    }
}
