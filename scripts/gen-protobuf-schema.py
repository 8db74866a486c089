#!/usr/bin/env python3
"""Generate crates/api/src/protobuf/generated.rs: the schema table that the Kubernetes protobuf
decoder in tug-api walks.

Three inputs are joined, each for the facts it is authoritative for:

* k8s-pb 0.9.0 (crates.io, Apache-2.0; prost structs generated from upstream's generated.proto):
  which messages exist, each field's tag number, protobuf type (string, bool, int32, int64,
  double, bytes, message, map) and cardinality.
* k8s-openapi 0.29.0, feature v1_35 (crates.io, Apache-2.0): the exact JSON name of every field,
  used to cross-check the Go json tags and for the few fields that have no Go declaration.
* The Go API type declarations of k8s.io/api, k8s.io/apimachinery and
  k8s.io/apiextensions-apiserver at one release tag (read from git directories, see --go-*):
  only facts are taken from them, never code: per field, whether the Go field is a pointer,
  whether its json tag has omitempty / omitzero, whether it is an inline embedded struct, and
  which Kubernetes group each package serves (register.go's GroupName) and which types are
  top-level kinds (they embed TypeMeta). These facts decide how a zero value on the wire maps to
  JSON: go-to-protobuf's marshaller always writes non-pointer scalars, even when zero, so a zero
  `generation` or `imagePullPolicy: ""` is on the wire of every Go client's body, while a JSON
  client leaves it out (omitempty). Pointer fields are written only when set, so their zero is
  meaningful (`replicas: 0`, `allowPrivilegeEscalation: false`) and is kept.

Usage (from the repository root):

    python3 scripts/gen-protobuf-schema.py \
        --go-api /path/to/kubernetes/api.git --go-apimachinery /path/to/apimachinery.git \
        --go-apiextensions /path/to/apiextensions-apiserver.git --go-ref v0.35.7

The Go inputs are git directories (bare or not) of the kubernetes/api, kubernetes/apimachinery
and kubernetes/apiextensions-apiserver repositories, read at --go-ref with `git show`; nothing
is built from them. The crate sources are looked up in ~/.cargo/registry/src/*/: k8s-pb is a
dev-dependency of tug-api, so `cargo fetch` brings it; k8s-openapi is only a cross-check of the
JSON names (which the Go json tags already give) and is skipped with a warning when absent (a
scratch crate depending on `k8s-openapi = "0.29"` plus `cargo fetch` brings it). --k8s-pb and
--k8s-openapi override the lookup. A summary of every join mismatch is printed to stderr.
"""

import argparse
import glob
import os
import re
import subprocess
import sys

SCALARS = {"string": "Str", "bool": "Bool", "int32": "I32", "int64": "I64", "double": "F64", "bytes": "Bytes"}

# Packages decoded: the k8s.io/api group versions a v1.35 API server serves (the set that
# k8s-openapi's v1_35 feature covers)...
SERVED_API_PACKAGES = """
admissionregistration/v1 admissionregistration/v1alpha1 admissionregistration/v1beta1
apiserverinternal/v1alpha1 apps/v1 authentication/v1 authorization/v1 autoscaling/v1 autoscaling/v2
batch/v1 certificates/v1 certificates/v1alpha1 certificates/v1beta1 coordination/v1
coordination/v1alpha2 coordination/v1beta1 core/v1 discovery/v1 events/v1 flowcontrol/v1
networking/v1 networking/v1beta1 node/v1 policy/v1 rbac/v1 resource/v1 resource/v1alpha3
resource/v1beta1 resource/v1beta2 scheduling/v1 scheduling/v1alpha1 storage/v1 storage/v1beta1
storagemigration/v1beta1
""".split()

# ... plus apiextensions.k8s.io/v1 and the apimachinery packages they reference.
EXTRA_PACKAGES = [
    ("apimachinery", "pkg", "apis", "meta", "v1"),
    ("apimachinery", "pkg", "runtime"),
    ("apimachinery", "pkg", "util", "intstr"),
    ("apimachinery", "pkg", "api", "resource"),
    ("apiextensions_apiserver", "pkg", "apis", "apiextensions", "v1"),
]

# Messages whose JSON form is not an object of their fields (their Go types have MarshalJSON).
SPECIALS = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "Time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "MicroTime",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": "Duration",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": "RawJson",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "RawJson",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "Quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSON": "RawJson",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray": "SchemaOrArray",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool": "SchemaOrBool",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray": "SchemaOrStringArray",
}

# Go packages (repository, directory) that back each k8s-pb module prefix.
GO_GROUP_OVERRIDES = {
    ("apimachinery", "pkg", "apis", "meta", "v1"): "meta.k8s.io",
    ("apiextensions_apiserver", "pkg", "apis", "apiextensions", "v1"): "apiextensions.k8s.io",
}


def norm(name):
    return re.sub(r"[^a-z0-9]", "", name.lower())


def find_crate(name, required=True):
    hits = sorted(glob.glob(os.path.expanduser(f"~/.cargo/registry/src/*/{name}/src")))
    if not hits:
        if required:
            sys.exit(f"cannot find {name} in ~/.cargo/registry/src; run `cargo fetch` first or pass its path")
        print(f"warning: {name} not found; JSON names are not cross-checked", file=sys.stderr)
        return None
    return hits[-1]


# ---------------------------------------------------------------------------------------------
# k8s-pb


def resolve_rust_path(module, path):
    """Resolve a Rust type path used inside `module` to (module tuple, name)."""
    parts = path.split("::")
    mod = list(module)
    while parts and parts[0] == "super":
        mod.pop()
        parts.pop(0)
    if len(parts) > 1:
        mod = mod + parts[:-1]
    return tuple(mod), parts[-1]


def strip_wrappers(ty):
    ty = re.sub(r"\s+", "", ty).replace(",>", ">")
    for wrapper in ("::core::option::Option<", "::prost::alloc::vec::Vec<", "::prost::alloc::boxed::Box<"):
        if ty.startswith(wrapper):
            return strip_wrappers(ty[len(wrapper) : -1])
    return ty


def parse_k8s_pb(root):
    messages = {}  # (module, rust_name) -> list of fields
    for path in glob.glob(os.path.join(root, "**", "mod.rs"), recursive=True):
        rel = os.path.relpath(os.path.dirname(path), root)
        module = tuple(rel.split(os.sep))
        text = open(path, encoding="utf-8").read()
        for m in re.finditer(r"^pub struct (\w+) \{(?:\}|\n(.*?)^\})", text, re.M | re.S):
            name, body = m.group(1), m.group(2) or ""
            body = "\n".join(line for line in body.split("\n") if not line.strip().startswith("//"))
            fields = []
            for chunk in body.split("#[prost(")[1:]:
                attr, rest = chunk.split(")]", 1)
                fm = re.match(r"\s*pub\s+(?:r#)?(\w+)\s*:\s*(.*),\s*$", rest, re.S)
                if not fm:
                    sys.exit(f"cannot parse field in {module}::{name}: {rest!r}")
                fname, fty = fm.group(1), fm.group(2)
                tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
                field = {"rust": fname, "tag": tag}
                mm = re.match(r'btree_map = "(\w+), (\w+)"', attr)
                if mm:
                    if mm.group(1) != "string":
                        sys.exit(f"map with non-string key in {module}::{name}.{fname}")
                    field["card"] = "map"
                    value = mm.group(2)
                    if value == "message":
                        inner = re.sub(r"\s+", "", fty).replace(",>", ">")
                        vm = re.match(r".*BTreeMap<::prost::alloc::string::String,(.*)>$", inner)
                        field["kind"] = ("msg", resolve_rust_path(module, strip_wrappers(vm.group(1))))
                    else:
                        field["kind"] = ("scalar", value)
                else:
                    kind = attr.split(",")[0].strip()
                    kind = kind.split(" ")[0]
                    field["card"] = "repeated" if ", repeated" in attr else "single"
                    if kind == "message":
                        field["kind"] = ("msg", resolve_rust_path(module, strip_wrappers(fty)))
                    elif kind in SCALARS:
                        field["kind"] = ("scalar", kind)
                    else:
                        sys.exit(f"unsupported prost kind {kind!r} in {module}::{name}.{fname}")
                fields.append(field)
            messages[(module, name)] = fields
    return messages


# ---------------------------------------------------------------------------------------------
# k8s-openapi


def parse_k8s_openapi(root):
    names = {}  # (module, norm struct name) -> {rust ident: json name}
    for path in glob.glob(os.path.join(root, "**", "*.rs"), recursive=True):
        rel = os.path.relpath(os.path.dirname(path), root)
        module = tuple(rel.split(os.sep))
        text = open(path, encoding="utf-8").read()
        structs = re.findall(r"^pub struct (\w+)", text, re.M)
        if len(structs) != 1:
            continue
        mapping = dict((ident, js) for js, ident in re.findall(r'"([^"]+)" => Field::Key_(\w+),', text))
        names[(module, norm(structs[0]))] = mapping
    return names


# ---------------------------------------------------------------------------------------------
# Go declarations (facts only)


def git_files(gitdir, ref, directory):
    out = subprocess.run(
        ["git", "--git-dir", gitdir, "ls-tree", "--name-only", f"{ref}:{directory}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [
        f"{directory}/{n}"
        for n in out.split()
        if n.endswith(".go")
        and not n.endswith("_test.go")
        and not n.startswith("zz_generated")
        and n not in ("generated.pb.go", "types_swagger_doc_generated.go")
    ]


def git_show(gitdir, ref, path):
    return subprocess.run(
        ["git", "--git-dir", gitdir, "show", f"{ref}:{path}"], check=True, capture_output=True, text=True
    ).stdout


def parse_go_package(gitdir, ref, directory):
    """Returns (structs, aliases, group, kinds).

    structs: go name -> {proto tag: fact dict}; aliases: go names declared as slice or map
    types; group: GroupName from register.go (None if absent); kinds: struct names embedding
    TypeMeta."""
    structs, aliases, kinds, group = {}, set(), set(), None
    for path in git_files(gitdir, ref, directory):
        text = git_show(gitdir, ref, path)
        gm = re.search(r'^const GroupName = "([^"]*)"', text, re.M)
        if gm:
            group = gm.group(1)
        for m in re.finditer(r"^type (\w+) (\[\]|map\[)", text, re.M):
            aliases.add(m.group(1))
        for m in re.finditer(r"^type (\w+) struct \{(?:\}|\n(.*?)^\})", text, re.M | re.S):
            name, body = m.group(1), m.group(2) or ""
            facts = {}
            for line in body.split("\n"):
                s = line.strip()
                if not s or s.startswith("//"):
                    continue
                fm = re.match(r"^(\S+)(?:\s+(\S+))?\s+`([^`]*)`", s)
                if not fm:
                    continue
                tags = fm.group(3)
                if fm.group(2) is None and re.search(r"(^|\.)TypeMeta$", fm.group(1)):
                    kinds.add(name)
                pm = re.search(r'protobuf:"([^"]*)"', tags)
                jm = re.search(r'json:"([^"]*)"', tags)
                if not pm:
                    continue
                pparts = pm.group(1).split(",")
                if len(pparts) < 2 or not pparts[1].isdigit():
                    continue
                embedded = fm.group(2) is None
                gotype = fm.group(1) if embedded else fm.group(2)
                jparts = (jm.group(1) if jm else "").split(",")
                facts[int(pparts[1])] = {
                    "go": fm.group(1),
                    "json": jparts[0],
                    "omitempty": "omitempty" in jparts[1:],
                    "omitzero": "omitzero" in jparts[1:],
                    "pointer": gotype.startswith("*"),
                    "inline": embedded and jparts[0] == "",
                    "skip": jparts[0] == "-",
                }
            structs[name] = facts
    return structs, aliases, group, kinds


def go_source_for(module, args):
    """Maps a k8s-pb module tuple to (gitdir, directory) of the Go package."""
    if module[0] == "api":
        return args.go_api, "/".join(module[1:])
    if module[0] == "apimachinery":
        return args.go_apimachinery, "/".join(module[1:])
    if module[0] == "apiextensions_apiserver":
        return args.go_apiextensions, "/".join(module[1:])
    return None, None


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k8s-pb", default=None, help="k8s-pb-0.9.0/src")
    ap.add_argument("--k8s-openapi", default=None, help="k8s-openapi-0.29.0/src/v1_35")
    ap.add_argument("--go-api", required=True, help="git dir of kubernetes/api")
    ap.add_argument("--go-apimachinery", required=True, help="git dir of kubernetes/apimachinery")
    ap.add_argument("--go-apiextensions", required=True, help="git dir of kubernetes/apiextensions-apiserver")
    ap.add_argument("--go-ref", default="v0.35.7", help="tag to read in all three Go repositories")
    ap.add_argument("--out", default="crates/api/src/protobuf/generated.rs")
    args = ap.parse_args()
    pb_root = args.k8s_pb or find_crate("k8s-pb-0.9.0")
    oa_root = args.k8s_openapi
    if oa_root is None:
        crate = find_crate("k8s-openapi-0.29.0", required=False)
        oa_root = crate and os.path.join(crate, "v1_35")

    pb = parse_k8s_pb(pb_root)
    oa = parse_k8s_openapi(oa_root) if oa_root else {}
    served = {("api", *p.split("/")) for p in SERVED_API_PACKAGES} | set(EXTRA_PACKAGES)
    if oa:
        served_oa = {m for (m, _) in oa if m[0] == "api"}
        for m in sorted(served_oa ^ {m for m in served if m[0] == "api"}):
            print(f"warning: {'/'.join(m[1:])} is served by only one of k8s-openapi and SERVED_API_PACKAGES",
                  file=sys.stderr)
    packages = sorted({m for (m, _) in pb if m in served})

    report = {"no_go_struct": [], "no_go_field": [], "json_mismatch": [], "no_openapi_name": [], "go_only": []}

    # Go facts per package.
    go = {}
    for module in packages:
        gitdir, directory = go_source_for(module, args)
        go[module] = parse_go_package(gitdir, args.go_ref, directory)

    # Message list: every k8s-pb message in a served package, named by its Go (= proto) name.
    order = sorted((m, n) for (m, n) in pb if m in served)
    msg_name = {}
    for module, rname in order:
        structs, aliases, _, _ = go[module]
        goname = next((g for g in list(structs) + list(aliases) if norm(g) == norm(rname)), rname)
        msg_name[(module, rname)] = "k8s.io." + ".".join(module) + "." + goname
    index = {key: i for i, key in enumerate(order)}
    if len(order) > 65535:
        sys.exit("too many messages for u16 indices")

    out_msgs = []
    for module, rname in order:
        full = msg_name[(module, rname)]
        goname = full.rsplit(".", 1)[1]
        structs, aliases, _, _ = go[module]
        special = SPECIALS.get(full)
        if special is None and goname in aliases:
            special = "Unwrap"
        facts = structs.get(goname)
        if facts is None and special is None:
            report["no_go_struct"].append(full)
        oa_names = oa.get((module, norm(rname)), {})
        oa_by_norm = {norm(js): js for js in oa_names.values()}
        fields = []
        for f in sorted(pb[(module, rname)], key=lambda f: f["tag"]):
            kind = f["kind"]
            if kind[0] == "msg":
                target = kind[1]
                if target not in index:
                    sys.exit(f"{full}.{f['rust']} refers to {target}, outside the decoded packages")
                kexpr = f"M({index[target]})"
            else:
                kexpr = SCALARS[kind[1]]
            flags = []
            if f["card"] == "repeated":
                flags.append("REP")
            elif f["card"] == "map":
                flags.append("MAP")
            fact = (facts or {}).get(f["tag"])
            json_name = None
            if fact is not None and special is not None:
                # Special messages are rendered by hand; their Go fields are often `json:"-"`.
                json_name = fact["json"] if not fact["skip"] and fact["json"] else f["rust"]
            elif fact is not None:
                if fact["skip"]:
                    continue
                json_name = fact["json"]
                if fact["inline"]:
                    flags.append("INLINE")
                    json_name = ""
                elif oa_names and json_name not in oa_names.values() and special is None:
                    report["json_mismatch"].append(f"{full}.{json_name} (go) not in k8s-openapi")
                if fact["omitzero"]:
                    flags.append("OMIT_ZERO")
                if kind[0] == "scalar" and f["card"] == "single" and not fact["pointer"] and fact["omitempty"]:
                    flags.append("OMIT_EMPTY")
            else:
                if special is None:
                    report["no_go_field"].append(f"{full}.{f['rust']} (tag {f['tag']})")
                json_name = oa_by_norm.get(norm(f["rust"]))
                if json_name is None:
                    if special is None:
                        report["no_openapi_name"].append(f"{full}.{f['rust']}")
                    parts = f["rust"].split("_")
                    json_name = parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
            flag_expr = " | ".join(flags) if flags else "0"
            fields.append(f'f({f["tag"]}, "{json_name}", {kexpr}, {flag_expr})')
        if facts:
            pb_tags = {f["tag"] for f in pb[(module, rname)]}
            for tag, fact in sorted(facts.items()):
                if tag not in pb_tags and not fact["skip"]:
                    report["go_only"].append(f"{full}.{fact['json'] or fact['go']} (tag {tag})")
        out_msgs.append((full, special or "None", fields))

    pb_names = {(m, norm(n)) for (m, n) in order}
    for module in packages:
        for goname, facts in sorted(go[module][0].items()):
            if facts and (module, norm(goname)) not in pb_names:
                report["go_only"].append(f"k8s.io.{'.'.join(module)}.{goname} (whole message)")

    # Top-level kinds: (apiVersion, kind) -> message index.
    kinds = []
    for module in packages:
        structs, _, group, kindset = go[module]
        group = GO_GROUP_OVERRIDES.get(module, group)
        if group is None:
            continue
        version = module[-1]
        api_version = f"{group}/{version}" if group else version
        for kind in sorted(kindset):
            key = next(((m, n) for (m, n) in order if m == module and norm(n) == norm(kind)), None)
            if key is not None:
                kinds.append((api_version, kind, index[key]))
    kinds.sort()

    lines = [
        "// @generated by scripts/gen-protobuf-schema.py; do not edit by hand.",
        "// Sources: k8s-pb 0.9.0 (messages, tags, types); the Go API declarations at",
        f"// {args.go_ref} (JSON names, pointer / omitempty / omitzero / inline facts, groups, kinds),",
        "// cross-checked against k8s-openapi 0.29.0 v1_35's JSON names.",
        "",
        "#![allow(unused_imports)]",
        "",
        "use super::schema::Kind::*;",
        "use super::schema::Special;",
        "use super::schema::{Field, INLINE, MAP, Message, OMIT_EMPTY, OMIT_ZERO, REP, f};",
        "",
        f"pub(super) static MESSAGES: [Message; {len(out_msgs)}] = [",
    ]
    for i, (full, special, fields) in enumerate(out_msgs):
        lines.append(f"    // {i}")
        lines.append(f'    Message {{ name: "{full}", special: Special::{special}, fields: &[')
        for fexpr in fields:
            lines.append(f"        {fexpr},")
        lines.append("    ] },")
    lines.append("];")
    lines.append("")
    lines.append("/// (apiVersion, kind, index into MESSAGES), sorted for binary search.")
    lines.append(f"pub(super) static KINDS: [(&str, &str, u16); {len(kinds)}] = [")
    for api_version, kind, idx in kinds:
        lines.append(f'    ("{api_version}", "{kind}", {idx}),')
    lines.append("];")
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")

    print(f"wrote {args.out}: {len(out_msgs)} messages, {len(kinds)} kinds", file=sys.stderr)
    for key, items in report.items():
        print(f"{key}: {len(items)}", file=sys.stderr)
        for item in items:
            print(f"    {item}", file=sys.stderr)


if __name__ == "__main__":
    main()
