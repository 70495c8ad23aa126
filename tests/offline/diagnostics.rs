//! One fixture per kind of bad input, run through the built binary exactly as a user would:
//! `rbake print ARGS` in a temp copy of `tests/fixtures/diagnostics/NAME/`.
//!
//! A fixture folder holds the bake file(s), `args` (the arguments after `print`, split on
//! whitespace), `span` (the exact text the primary caret must underline) and optionally `env`
//! (`KEY=VALUE` lines, the only environment the run gets). The harness is
//! `support::print_fixtures!`, shared with `toml.rs`.

crate::support::print_fixtures! {
    "tests/fixtures/diagnostics",
    hcl_syntax_error: "hcl-syntax-error" exits 1;
    json_syntax_error: "json-syntax-error" exits 1;
    block_extra_label: "block-extra-label" exits 1;
    undefined_variable: "undefined-variable" exits 1;
    unknown_function: "unknown-function" exits 1;
    function_argument_count: "function-argument-count" exits 1;
    builtin_argument_count: "builtin-argument-count" exits 1;
    function_missing_result: "function-missing-result" exits 1;
    platforms_not_a_list: "platforms-not-a-list" exits 1;
    no_cache_not_a_bool: "no-cache-not-a-bool" exits 1;
    unknown_target: "unknown-target" exits 1;
    inherits_unknown_parent: "inherits-unknown-parent" exits 1;
    set_unknown_key: "set-unknown-key" exits 1;
    set_missing_equals: "set-missing-equals" exits 1;
    set_no_match: "set-no-match" exits 1;
    set_bool_invalid: "set-bool-invalid" exits 1;
    variable_cycle: "variable-cycle" exits 1;
    name_without_matrix: "name-without-matrix" exits 1;
    matrix_duplicate_names: "matrix-duplicate-names" exits 1;
    invalid_target_name: "invalid-target-name" exits 1;
    context_links_itself: "context-links-itself" exits 1;
    linked_platform_mismatch: "linked-platform-mismatch" exits 1;
    variable_default_type_mismatch: "variable-default-type-mismatch" exits 1;
    validation_failed: "validation-failed" exits 1;
    env_bool_invalid: "env-bool-invalid" exits 1;
    null_in_template: "null-in-template" exits 1;
    index_out_of_range: "index-out-of-range" exits 1;
    divide_by_zero: "divide-by-zero" exits 1;
    unclosed_string: "unclosed-string" exits 1;
    invalid_utf8: "invalid-utf8" exits 1;
    column_after_multibyte: "column-after-multibyte" exits 1;
    string_doubling_functions: "string-doubling-functions" exits 1;
    matrix_too_large: "matrix-too-large" exits 1;
    too_much_work: "too-much-work" exits 1;
    compose_split_incomplete: "compose-split-incomplete" exits 1;
    compose_extends_cycle: "compose-extends-cycle" exits 1;
    compose_extends_unknown: "compose-extends-unknown" exits 1;
    compose_include_missing: "compose-include-missing" exits 1;
    compose_include_cycle: "compose-include-cycle" exits 1;
    compose_env_file_missing: "compose-env-file-missing" exits 1;
    compose_read_outside: "compose-read-outside" exits 1;
    warning_unknown_attribute: "warning-unknown-attribute" exits 0;
    warning_unknown_block: "warning-unknown-block" exits 0;
}
