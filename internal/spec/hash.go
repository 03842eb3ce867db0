package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Hash is the sha256 (hex) of the canonical JSON of the whole desired state:
// clusters, VMs and catalog, already sorted, so the order of files and
// documents does not change it. The list of files is left out on purpose.
// The VMs are encoded by appendVMJSON, the rest by encoding/json: the bytes
// hashed are json.Marshal's of the same struct (TestHashIsJSONMarshal).
func (d *Desired) Hash() string {
	if d == nil {
		return hashJSON(nil)
	}
	h := sha256.New()
	write := func(b []byte) { _, _ = h.Write(b) }
	write([]byte(`{"clusters":`))
	write(marshalForHash(d.Clusters))
	write([]byte(`,"vms":`))
	if d.VMs == nil {
		write([]byte("null"))
	} else {
		writeVMs(h, d.VMs)
	}
	write([]byte(`,"catalog":`))
	write(marshalForHash(d.Catalog))
	write([]byte("}"))
	return hex.EncodeToString(h.Sum(nil))
}

// writeVMs writes the JSON array of vms to h, one VM's bytes at a time.
func writeVMs(h hash.Hash, vms []VM) {
	buf := make([]byte, 0, 1024)
	buf = append(buf, '[')
	for i := range vms {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendVMJSON(buf, &vms[i])
		_, _ = h.Write(buf)
		buf = buf[:0]
	}
	_, _ = h.Write(append(buf, ']'))
}

// Hash is the sha256 (hex) of the VM's canonical spec with defaults applied;
// tlreconcile stores it in the VM's annotations to notice spec changes. The
// bytes hashed are json.Marshal(v)'s, written without reflection.
func (v VM) Hash() string {
	var buf [1024]byte
	sum := sha256.Sum256(appendVMJSON(buf[:0], &v))
	return hex.EncodeToString(sum[:])
}

// hashJSON relies on encoding/json's fixed struct order and sorted map keys.
func hashJSON(v any) string {
	sum := sha256.Sum256(marshalForHash(v))
	return hex.EncodeToString(sum[:])
}

func marshalForHash(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only free-form driver options could fail, and the loader keeps them JSON-safe.
		b = []byte("unmarshalable:" + err.Error())
	}
	return b
}

// appendVMJSON appends exactly what json.Marshal(v) writes: the fields in
// declaration order with their tags, omitempty as encoding/json applies it,
// map keys sorted and strings escaped as json.Marshal escapes them.
// TestVMJSONFields fails when VM or a type inside it gains a field, so that
// this function learns it before a hash can change meaning.
func appendVMJSON(b []byte, v *VM) []byte {
	b = appendJSONKey(b, '{', "name", v.Name)
	b = appendJSONKey(b, ',', "cluster", v.Cluster)
	if len(v.Labels) > 0 {
		b = append(b, `,"labels":`...)
		b = appendStringMap(b, v.Labels)
	}
	b = appendJSONKey(b, ',', "securityType", v.SecurityType)
	b = append(b, `,"image":`...)
	b = appendJSONKey(b, '{', "publisher", v.Image.Publisher)
	b = appendJSONKey(b, ',', "offer", v.Image.Offer)
	b = appendJSONKey(b, ',', "sku", v.Image.Sku)
	b = appendJSONKey(b, ',', "version", v.Image.Version)
	b = append(b, `},"processors":`...)
	b = strconv.AppendInt(b, int64(v.Processors), 10)
	b = append(b, `,"memoryMB":`...)
	b = strconv.AppendInt(b, v.MemoryMB, 10)
	b = append(b, `,"secureBoot":{"enabled":`...)
	b = strconv.AppendBool(b, v.SecureBoot.Enabled)
	b = appendJSONKey(b, ',', "template", v.SecureBoot.Template)
	b = append(b, `},"vtpm":{"enabled":`...)
	b = strconv.AppendBool(b, v.VTPM.Enabled)
	b = append(b, `},"vbs":`...)
	b = strconv.AppendBool(b, v.VBS)
	b = append(b, `,"encryptStateAndMigrationTraffic":`...)
	b = strconv.AppendBool(b, v.EncryptStateAndMigrationTraffic)
	b = append(b, `,"bootIntegrityVerification":`...)
	b = strconv.AppendBool(b, v.BootIntegrityVerification)
	b = append(b, `,"placement":{`...)
	if v.Placement.Node != "" {
		b = appendJSONKey(b, 0, "node", v.Placement.Node)
	}
	b = append(b, '}')
	b = appendJSONKey(b, ',', "power", v.Power)
	b = append(b, `,"protect":`...)
	b = strconv.AppendBool(b, v.Protect)
	return append(appendVMOptional(b, v), '}')
}

// appendVMOptional appends the omitempty tail of a VM: network, storage path, OS profile, attestation.
func appendVMOptional(b []byte, v *VM) []byte {
	if n := v.Network; n != nil {
		b = append(b, `,"network":`...)
		b = appendJSONKey(b, '{', "logicalNetwork", n.LogicalNetwork)
		if n.IPAddress != "" {
			b = appendJSONKey(b, ',', "ipAddress", n.IPAddress)
		}
		b = append(b, '}')
	}
	if v.StoragePath != "" {
		b = appendJSONKey(b, ',', "storagePath", v.StoragePath)
	}
	if o := v.OSProfile; o != nil {
		b = append(b, `,"osProfile":{`...)
		sep := byte(0)
		if o.ComputerName != "" {
			b, sep = appendJSONKey(b, sep, "computerName", o.ComputerName), ','
		}
		if o.AdminUsername != "" {
			b, sep = appendJSONKey(b, sep, "adminUsername", o.AdminUsername), ','
		}
		if p := o.AdminPassword; p != nil {
			if sep != 0 {
				b = append(b, sep)
			}
			b = append(b, `"adminPassword":{`...)
			inner := byte(0)
			if p.FromEnv != "" {
				b, inner = appendJSONKey(b, inner, "fromEnv", p.FromEnv), ','
			}
			if p.FromFile != "" {
				b = appendJSONKey(b, inner, "fromFile", p.FromFile)
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	if a := v.Attestation; a != nil {
		// Rare and small: encoding/json's own bytes, so the hash stays
		// json.Marshal's by construction.
		j, _ := json.Marshal(a) // strings, bools and *bool: it cannot fail
		b = append(append(b, `,"attestation":`...), j...)
	}
	return b
}

// appendJSONKey appends sep (unless 0), "key":"value". Keys are plain ASCII.
func appendJSONKey(b []byte, sep byte, key, value string) []byte {
	if sep != 0 {
		b = append(b, sep)
	}
	b = append(b, '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendJSONString(b, value)
}

func appendStringMap(b []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString is encoding/json's string encoding with HTML escaping,
// as json.Marshal uses it: <, > and & as \u00XX, control characters, invalid
// UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func itoa(i int) string { return strconv.Itoa(i) }
