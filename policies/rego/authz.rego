# The gateway's default MCP authorization policy: one decision per JSON-RPC message, and a batch
# filter for list results defined in terms of that same decision. Contract: policies/README.md.
package mcp.authz

# Role grants, MFA and site data live in data.mcp.config (rego/data.json) so an operator changes
# who may do what without touching rules; tests override it with `with data.mcp.config as …`.
cfg := data.mcp.config

actions := {"read", "write", "execute"}

# Methods that are part of running a session rather than using a tool/prompt/resource. They are
# allowed by this explicit rule (never by a missing one) to subjects holding any grant on the server.
protocol_methods := {
	"initialize",
	"ping",
	"logging/setLevel",
	"server/discover",
	"subscriptions/listen",
	"tasks/get",
	"tasks/list",
	"tasks/cancel",
	"tasks/result",
}

# List methods are allowed; each item of the result is then judged by `filter` below as the call
# that would use it (item_methods), so listing and calling cannot disagree.
item_methods := {
	"tools/list": "tools/call",
	"prompts/list": "prompts/get",
	"resources/list": "resources/read",
	"resources/templates/list": "resources/read",
}

# Methods that act on one named target (tool / prompt name, resource URI); input.target is required.
target_methods := {
	"tools/call",
	"prompts/get",
	"resources/read",
	"resources/subscribe",
	"resources/unsubscribe",
	"completion/complete",
}

# ---------------------------------------------------------------------------------------------
# The decision. Deny by default; the first matching branch of the chain wins, in this order:
# malformed input → server access → protocol / list methods → grant → arguments → MFA → allow.
# ---------------------------------------------------------------------------------------------

default decision := {"allow": false, "reason": "no rule allows this request"}

decision := deny(concat("", ["malformed input: ", malformed])) if {
	malformed
} else := deny(concat("", ["no grant on server \"", input.server, "\""])) if {
	not server_access
} else := allow("protocol method") if {
	protocol_methods[input.method]
} else := allow("protocol notification") if {
	startswith(input.method, "notifications/")
} else := allow("list method; items are filtered by the same decision") if {
	item_methods[input.method]
} else := deny(concat("", ["method \"", input.method, "\" is not covered by any rule"])) if {
	not target_methods[input.method]
} else := deny(concat("", ["no grant for ", input.action, " on \"", input.target, "\""])) if {
	count(granting_roles) == 0
} else := conditional_deny(argument_problem) if {
	argument_problem
} else := step_up_deny if {
	not mfa_satisfied
} else := approval_allow(concat("", ["granted by ", min(granting_roles), "; needs the user's approval"])) if {
	needs_approval
} else := allow(concat("", ["granted by ", min(granting_roles)]))

allow(reason) := {"allow": true, "reason": reason}

deny(reason) := {"allow": false, "reason": reason}

mfa_reason := concat("", [input.action, " requires multi-factor authentication"]) if {
	mfa_by_action
} else := concat("", ["\"", input.target, "\" requires multi-factor authentication"])

# An allowed call the gateway forwards only after the calling user accepts it (MCP elicitation).
approval_allow(reason) := {"allow": true, "reason": reason, "require_approval": true}

# cfg.require_approval maps a server to glob patterns of tools whose calls need the user's approval.
needs_approval if {
	input.method == "tools/call"
	some pattern in cfg.require_approval[input.server]
	glob.match(pattern, null, input.target)
}

# `conditional` marks a deny that depends on this particular call (its arguments, or how strongly the
# subject authenticated), not on who the subject is: the target stays visible in lists.
conditional_deny(reason) := {"allow": false, "reason": reason, "conditional": true}

step_up_deny := {
	"allow": false,
	"reason": mfa_reason,
	"conditional": true,
	"step_up": cfg.mfa.step_up,
}

# ---------------------------------------------------------------------------------------------
# Input validation: odd input must deny with a reason, never hit a type error (which OPA and the
# wasm runtime would handle differently). Reasons are built with concat, not sprintf: the wasm SDK
# implements sprintf in JavaScript without Go's %q/%v verbs, so the two engines would disagree.
# ---------------------------------------------------------------------------------------------

malformed := "input must be an object" if {
	not input_is_object
} else := "subject must be an object" if {
	not subject_is_object
} else := "subject.sub must be a non-empty string" if {
	not sub_ok
} else := "subject.groups must be an array of strings" if {
	not groups_ok
} else := "subject.amr must be an array of strings" if {
	not amr_ok
} else := "server must be a non-empty string" if {
	not server_ok
} else := "method must be a non-empty string" if {
	not method_ok
} else := "target must be a non-empty string" if {
	target_methods[input.method]
	not target_ok
} else := "action must be one of read, write, execute" if {
	target_methods[input.method]
	not valid_action
}

# Positive helpers, negated as rule references: `not is_object(input.x)` would be undefined (not
# true) when input.x is missing, because OPA hoists the argument out of the negation.
input_is_object if is_object(input)

subject_is_object if is_object(input.subject)

sub_ok if non_empty_string(input.subject.sub)

groups_ok if string_array(input.subject.groups)

amr_ok if string_array(input.subject.amr)

server_ok if non_empty_string(input.server)

method_ok if non_empty_string(input.method)

target_ok if non_empty_string(input.target)

valid_action if {
	is_string(input.action)
	actions[input.action]
}

non_empty_string(x) if {
	is_string(x)
	x != ""
}

string_array(x) if {
	is_array(x)
	every v in x {
		is_string(v)
	}
}

# ---------------------------------------------------------------------------------------------
# RBAC: cfg.roles maps a group to grants {server, actions, targets?}. server "*" matches every
# server; targets (glob patterns, no delimiters) narrow a grant to some tools/prompts/URIs.
# ---------------------------------------------------------------------------------------------

server_access if {
	some group in input.subject.groups
	some grant in object.get(cfg.roles, group, [])
	server_matches(grant)
}

granting_roles contains group if {
	some group in input.subject.groups
	some grant in object.get(cfg.roles, group, [])
	server_matches(grant)
	input.action in grant.actions
	target_matches(grant)
	not target_excluded(grant)
}

server_matches(grant) if grant.server == "*"

server_matches(grant) if grant.server == input.server

target_matches(grant) if not "targets" in object.keys(grant)

target_matches(grant) if {
	some pattern in grant.targets
	glob.match(pattern, null, input.target)
}

# `except` (glob patterns) takes targets out of a grant: a read grant that must not cover a tool a
# backend annotates read-only although it reaches devices (e.g. a command runner).
target_excluded(grant) if {
	some pattern in object.get(grant, "except", [])
	glob.match(pattern, null, input.target)
}

# ---------------------------------------------------------------------------------------------
# MFA (RFC 8176 `amr`): write and execute, and the tools listed in cfg.mfa.targets[server] whatever
# their action, need one of cfg.mfa.amr; otherwise the decision carries cfg.mfa.step_up, which the
# gateway turns into an RFC 9470 insufficient_user_authentication challenge. Listing targets by name
# keeps MFA on the tools that touch devices even if a backend annotates them read-only.
# ---------------------------------------------------------------------------------------------

mfa_by_action if input.action in cfg.mfa.actions

mfa_by_target if input.target in object.get(object.get(cfg.mfa, "targets", {}), input.server, [])

mfa_satisfied if {
	not mfa_by_action
	not mfa_by_target
}

mfa_satisfied if {
	some method in input.subject.amr
	method in cfg.mfa.amr
}

# ---------------------------------------------------------------------------------------------
# Argument-aware rule: site-scoped tools (cfg.site_scoped[server]) may only touch sites the subject's
# groups allow. A call names sites directly (arguments.site, arguments.sites) or through devices
# (arguments.devices, resolved by the inventory cfg.device_sites). Unknown devices and calls naming
# no site are refused. Groups "site:<name>" and cfg.group_sites grant sites; holders of a
# cfg.all_sites_groups group (admin) may touch every site.
# ---------------------------------------------------------------------------------------------

site_scoped if {
	input.method == "tools/call"
	input.target in object.get(cfg.site_scoped, input.server, [])
}

all_sites if {
	some group in input.subject.groups
	group in cfg.all_sites_groups
}

allowed_sites contains site if {
	some group in input.subject.groups
	startswith(group, "site:")
	site := substring(group, 5, -1)
}

allowed_sites contains site if {
	some group in input.subject.groups
	some site in object.get(cfg.group_sites, group, [])
}

args := input.arguments if is_object(input.arguments)

else := {}

named_devices := args.devices if string_array(args.devices)

else := []

named_sites contains args.site if non_empty_string(args.site)

named_sites contains site if {
	string_array(args.sites)
	some site in args.sites
}

named_sites contains site if {
	some device in named_devices
	site := cfg.device_sites[device]
}

unknown_devices contains device if {
	some device in named_devices
	not cfg.device_sites[device]
}

argument_problem := "site-scoped tool: arguments.site/sites/devices have the wrong type" if {
	site_scoped
	not well_typed_site_arguments
} else := concat("", ["site-scoped tool: unknown devices: ", concat(", ", sort(unknown_devices))]) if {
	site_scoped
	count(unknown_devices) > 0
} else := "site-scoped tool: the call names no site or device" if {
	site_scoped
	count(named_sites) == 0
} else := concat("", ["site-scoped tool: sites not allowed for this subject: ", concat(", ", sort(forbidden_sites))]) if {
	site_scoped
	not all_sites
	count(forbidden_sites) > 0
}

forbidden_sites := named_sites - allowed_sites

well_typed_site_arguments if {
	not bad_site_argument
}

bad_site_argument if {
	"site" in object.keys(args)
	not non_empty_string(args.site)
}

bad_site_argument if {
	"sites" in object.keys(args)
	not string_array(args.sites)
}

bad_site_argument if {
	"devices" in object.keys(args)
	not string_array(args.devices)
}

# ---------------------------------------------------------------------------------------------
# Batch entrypoint for list results: input is the list request's input plus
# items: [{target, action}]. Each item is judged by `decision` as the call that would use it
# (without arguments); it is visible when allowed, or when the deny is only conditional.
# ---------------------------------------------------------------------------------------------

filter contains item.target if {
	decision.allow
	call := item_methods[input.method]
	is_array(input.items)
	some item in input.items
	d := decision with input as {
		"subject": input.subject,
		"server": input.server,
		"method": call,
		"target": item.target,
		"action": item.action,
		"request": object.get(input, "request", {}),
	}
	visible(d)
}

visible(d) if d.allow

visible(d) if d.conditional
