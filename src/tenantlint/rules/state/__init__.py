"""Request state kept where every request shares it (TL101): the rule, its plan and its LibCST fix."""
