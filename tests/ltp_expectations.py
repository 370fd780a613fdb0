"""The NUMA expectations of LTP, numactl's regression tests and the kernel's numa_memory_policy.rst,
one row each, with what the model makes of them.

A row says which suite and test asserts it, what is asserted and the exact values (counts, return
values, errno), and its status on the model:

- stated, passes: a test here runs the same steps on the model and asserts the same values;
- later kernels only: the suite's answer holds from a later kernel (the version is given); the test
  asserts 4.19's answer instead;
- 4.19 differs: the text promises what 4.19 does not do; the test asserts 4.19's
  answer;
- not stated: a model feature the expectation needs is missing (MISSING says which).

    python tests/ltp_expectations.py --summary    # the counts; runs the stated rows' tests
    python tests/ltp_expectations.py --markdown   # docs/ltp-expectations.md

The suites' code is not copied: each row restates the expectation in this project's words. Test ids
are pytest node ids relative to tests/; an id without a [parameter] stands for every case of the test.
"""

import argparse
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PASSES = "stated, passes"
LATER = "later kernels only"
DIFFERS = "4.19 differs"
NOT_STATED = "not stated"
STATUSES = (PASSES, LATER, DIFFERS, NOT_STATED)

LTP, NUMACTL, DOC = "LTP", "numactl", "kernel doc"
SOURCES = {  # where each suite's tests live (the repositories linux-test-project/ltp, numactl/numactl, Linux 4.19)
    LTP: "testcases/kernel/syscalls/<syscall>/<test>.c, testcases/kernel/mem/oom/<test>.c, "
         "testcases/kernel/mem/cpuset/<test>.c, testcases/kernel/controllers/cpuset/<test>/<test>set.sh, "
         "testcases/kernel/numa/numa01.sh",
    NUMACTL: "test/<test>",
    DOC: "Documentation/admin-guide/mm/numa_memory_policy.rst",
}

MISSING = {  # the model features a row that is not stated needs
    "memory-migrate": "cpuset.memory_migrate: a task's pages following it to a new cpuset or new mems "
                      "(migrate_pages(2), move_pages(2) and mbind's MPOL_MF_MOVE are modelled)",
    "oom-kill": "the OOM killer (choosing and killing a victim) and overcommit",
    "mlock": "mlock and MAP_LOCKED",
    "threads": "tasks sharing one mm, threads of one process (each task has its own mm in the model)",
    "exec": "exec(2): a new address space that keeps the task policy",
    "boot": "the boot-time default policy (the model starts with the system up)",
    "ksm": "KSM (merged pages)",
    "memcg": "memory cgroup charging of user pages (the model charges only __GFP_ACCOUNT allocations)",
    "user-pointer": "user buffers: the -EFAULT of a bad pointer (copy_from_user and friends)",
    "compat": "the 32-bit compat system call entry",
    "hugetlb": "hugetlbfs pages",
    "user-space": "user-space code: CPU affinity, numactl's options and output, libnuma's view of sysfs",
    "old-kernel": "an expectation of kernels before 2.6.29, skipped by the suite on later ones",
}


@dataclass(frozen=True)
class Expectation:
    suite: str
    test: str  # the suite's test: set_mempolicy01, regress, numa_memory_policy.rst, ...
    case: str  # which of its cases, unique within the test
    asserts: str  # what the suite asserts, in this project's words
    expects: str  # the exact values it asserts
    status: str
    tests: tuple = ()  # the tests stating it (stated rows)
    since: str = ""  # LATER: the kernel from which the suite's answer holds
    missing: str = ""  # NOT_STATED: a key of MISSING

    @property
    def key(self):
        return f"{self.test}/{self.case}"


def stated(suite, test, case, asserts, expects, *tests):
    return Expectation(suite, test, case, asserts, expects, PASSES, tests)


def later(suite, test, case, asserts, expects, since, *tests):
    return Expectation(suite, test, case, asserts, expects, LATER, tests, since=since)


def differs(suite, test, case, asserts, expects, *tests):
    return Expectation(suite, test, case, asserts, expects, DIFFERS, tests)


def not_stated(suite, test, case, asserts, expects, missing):
    return Expectation(suite, test, case, asserts, expects, NOT_STATED, missing=missing)


SM = "test_ltp_set_mempolicy.py::"
MB = "test_ltp_mbind.py::"
GM = "test_ltp_get_mempolicy.py::"
OOM = "test_ltp_oom.py::"
NC = "test_ltp_numactl.py::"
PD = "test_ltp_policy_doc.py::"
CS = "test_ltp_cpuset.py::"
MIG = "test_ltp_migrate_pages.py::"
MOV = "test_ltp_move_pages.py::"

CATALOGUE = (
    # ---- LTP set_mempolicy ---------------------------------------------------------------------------------
    stated(LTP, "set_mempolicy01", "bind", "set_mempolicy(MPOL_BIND, {n}) for each memory node n, then 16 pages "
           "written and counted with get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR) (parent)",
           "ret 0; 16 pages on n, 0 on every other node",
           SM + "test_set_mempolicy01_each_node_in_turn_gets_all_16_pages[bind]"),
    stated(LTP, "set_mempolicy01", "preferred", "the same with MPOL_PREFERRED (parent)",
           "ret 0; 16 pages on n, 0 on every other node",
           SM + "test_set_mempolicy01_each_node_in_turn_gets_all_16_pages[preferred]"),
    stated(LTP, "set_mempolicy01", "child", "the child forked after set_mempolicy writes and counts its own 16 "
           "pages (task policy inherited), before the parent", "16 pages on n, 0 elsewhere, both modes",
           SM + "test_set_mempolicy01_the_forked_child_gets_the_same_16_pages"),
    stated(LTP, "set_mempolicy02", "all-nodes", "MPOL_INTERLEAVE over every memory node, 2 pages per node "
           "written (parent)", "ret 0; exactly 2 pages on each node",
           SM + "test_set_mempolicy02_interleave_gives_each_node_its_share[all-nodes-2-each]"),
    stated(LTP, "set_mempolicy02", "two-nodes", "MPOL_INTERLEAVE over the first 2 memory nodes, 16 pages "
           "written (parent)", "ret 0; 8 pages on each of the 2, 0 on the others",
           SM + "test_set_mempolicy02_interleave_gives_each_node_its_share[first-2-nodes-8-each]"),
    stated(LTP, "set_mempolicy02", "child", "the forked child's pages under the inherited interleave, before the "
           "parent's", "the same counts as the parent",
           SM + "test_set_mempolicy02_the_forked_child_interleaves_the_same"),
    stated(LTP, "set_mempolicy03", "file", "MPOL_BIND and MPOL_PREFERRED {n}: 16 pages of a file mapping, "
           "on every filesystem, written and counted", "16 pages on n, 0 elsewhere",
           SM + "test_set_mempolicy03_file_pages_follow_the_task_policy_to_the_node"),
    stated(LTP, "set_mempolicy04", "file-interleave", "MPOL_INTERLEAVE over every node: 10 x N files of "
           "growing sizes mapped and written", "each node within total/N +- total/60; the sum equals the "
           "total (the model: 565 and 565 of 1130 on 2 nodes)",
           SM + "test_set_mempolicy04_file_pages_interleave_over_every_node"),
    not_stated(LTP, "set_mempolicy05", "compat-leak", "the 32-bit compat set_mempolicy with invalid pointers "
               "does not write the user's stack (CVE-2017-7616, cf01fb9985e8)", "EFAULT; the stack pattern "
               "intact", "compat"),
    # ---- LTP mbind -----------------------------------------------------------------------------------------
    stated(LTP, "mbind01", "default", "mbind(MPOL_DEFAULT, NULL, 0) on a fresh 4 MiB mapping, then "
           "get_mempolicy(MPOL_F_ADDR)", "ret 0; MPOL_DEFAULT, empty mask", MB + "test_mbind01[default]"),
    stated(LTP, "mbind01", "default-target-exists", "mbind(MPOL_DEFAULT) with the test node in the mask",
           "-1, EINVAL", MB + "test_mbind01[default-target-exists]"),
    stated(LTP, "mbind01", "bind-no-target", "mbind(MPOL_BIND, NULL, 0)", "-1, EINVAL",
           MB + "test_mbind01[bind-no-target]"),
    stated(LTP, "mbind01", "bind", "mbind(MPOL_BIND, {test node}), then get_mempolicy(MPOL_F_ADDR)",
           "ret 0; MPOL_BIND, {test node}", MB + "test_mbind01[bind]"),
    stated(LTP, "mbind01", "interleave-no-target", "mbind(MPOL_INTERLEAVE, NULL, 0)", "-1, EINVAL",
           MB + "test_mbind01[interleave-no-target]"),
    stated(LTP, "mbind01", "weighted-interleave-no-target", "mbind(MPOL_WEIGHTED_INTERLEAVE, NULL, 0) (a posted "
           "series adding MPOL_WEIGHTED_INTERLEAVE to LTP)",
           "-1, EINVAL (4.19: an unknown mode, the same errno)",
           MB + "test_mbind01[weighted-interleave-no-target]"),
    stated(LTP, "mbind01", "interleave", "mbind(MPOL_INTERLEAVE, {test node}), then get_mempolicy(MPOL_F_ADDR)",
           "ret 0; MPOL_INTERLEAVE, {test node}", MB + "test_mbind01[interleave]"),
    later(LTP, "mbind01", "weighted-interleave", "mbind(MPOL_WEIGHTED_INTERLEAVE, {test node}), then "
          "get_mempolicy(MPOL_F_ADDR) (the same posted series)", "ret 0; mode 6, {test node} (4.19: -1, EINVAL)",
          "Linux 6.9",
          MB + "test_mbind01_weighted_interleave_is_an_unknown_mode_in_4_19"),
    stated(LTP, "mbind01", "preferred-no-target", "mbind(MPOL_PREFERRED, NULL, 0) (local allocation), then "
           "get_mempolicy(MPOL_F_ADDR)", "ret 0; MPOL_PREFERRED or MPOL_LOCAL (4.19: MPOL_PREFERRED, empty mask)",
           MB + "test_mbind01_local_allocation_reports_preferred_in_4_19[preferred-no-target]"),
    stated(LTP, "mbind01", "preferred", "mbind(MPOL_PREFERRED, {test node}), then get_mempolicy(MPOL_F_ADDR)",
           "ret 0; MPOL_PREFERRED, {test node}", MB + "test_mbind01[preferred]"),
    stated(LTP, "mbind01", "local", "mbind(MPOL_LOCAL, NULL, 0), then get_mempolicy(MPOL_F_ADDR), before 5.14",
           "ret 0; MPOL_PREFERRED or MPOL_LOCAL, empty mask (4.19: MPOL_PREFERRED)",
           MB + "test_mbind01_local_allocation_reports_preferred_in_4_19[local]"),
    later(LTP, "mbind01", "local-from-5.14", "the same, from 5.14: the mode reported must be MPOL_LOCAL itself",
          "MPOL_LOCAL, empty mask (4.19: MPOL_PREFERRED)", "Linux 5.14",
          MB + "test_mbind01_local_allocation_reports_preferred_in_4_19[local]"),
    stated(LTP, "mbind01", "local-target-exists", "mbind(MPOL_LOCAL) with the test node in the mask",
           "-1, EINVAL", MB + "test_mbind01[local-target-exists]"),
    stated(LTP, "mbind01", "unknown-policy", "mbind with mode -1",
           "-1, EINVAL", MB + "test_mbind01[unknown-policy]"),
    stated(LTP, "mbind01", "invalid-flags", "mbind(MPOL_DEFAULT) with flags -1", "-1, EINVAL",
           MB + "test_mbind01[invalid-flags]"),
    not_stated(LTP, "mbind01", "invalid-nodemask", "mbind(MPOL_PREFERRED) with a mask pointer 64 MiB past the "
               "heap", "-1, EFAULT", "user-pointer"),
    stated(LTP, "mbind02", "strict-eio", "a page faulted on one node, then mbind(mode, {another node}, "
           "MPOL_MF_STRICT) for MPOL_PREFERRED, MPOL_BIND and MPOL_INTERLEAVE (a7f40cfe3b7a)", "-1, EIO",
           MB + "test_mbind02_strict_finds_the_page_on_another_node_eio"),
    stated(LTP, "mbind03", "move", "a page faulted on one node, then mbind(mode, {another node}) with "
           "MPOL_MF_MOVE and with MPOL_MF_MOVE_ALL, for the three modes",
           "ret 0; the page counted on the new node, 0 elsewhere",
           MB + "test_mbind03_move_takes_the_faulted_page_to_the_node"),
    stated(LTP, "mbind04", "parent", "for every node n and mode PREFERRED, BIND, INTERLEAVE: mbind of 16 fresh "
           "pages to {n} with flags 0 and MPOL_MF_STRICT, then written and counted (parent)",
           "ret 0; 16 pages on n, 0 elsewhere",
           MB + "test_mbind04_bound_range_faults_all_16_pages_on_the_node"),
    stated(LTP, "mbind04", "child", "the child forked after mbind writes and counts the range (its VMA keeps the "
           "policy), before the parent", "16 pages on n, 0 elsewhere",
           MB + "test_mbind04_the_forked_child_faults_the_bound_range_on_the_node"),
    # ---- LTP get_mempolicy ---------------------------------------------------------------------------------
    *(stated(LTP, "get_mempolicy01", f"task-{case}", f"set_mempolicy({mode}), then get_mempolicy(flags 0)",
             f"ret 0; {mode.split(',')[0]}, {mask}", GM + f"test_get_mempolicy01_task_policy_reads_back[{case}]")
      for case, mode, mask in (("default", "MPOL_DEFAULT, NULL", "empty mask"),
                               ("bind", "MPOL_BIND, {test node}", "{test node}"),
                               ("interleave", "MPOL_INTERLEAVE, {test node}", "{test node}"),
                               ("preferred-no-target", "MPOL_PREFERRED, NULL", "empty mask"),
                               ("preferred", "MPOL_PREFERRED, {test node}", "{test node}"))),
    *(stated(LTP, "get_mempolicy01", f"addr-{case}", f"mbind({mode}) on a fresh 4 MiB mapping, then "
             "get_mempolicy(MPOL_F_ADDR) at its start", f"ret 0; {mode.split(',')[0]}, {mask}",
             GM + f"test_get_mempolicy01_range_policy_reads_back[{case}]")
      for case, mode, mask in (("default", "MPOL_DEFAULT, NULL", "empty mask"),
                               ("bind", "MPOL_BIND, {test node}", "{test node}"),
                               ("interleave", "MPOL_INTERLEAVE, {test node}", "{test node}"),
                               ("preferred-no-target", "MPOL_PREFERRED, NULL", "empty mask"),
                               ("preferred", "MPOL_PREFERRED, {test node}", "{test node}"))),
    later(LTP, "get_mempolicy01", "weighted-interleave", "set_mempolicy(MPOL_WEIGHTED_INTERLEAVE, {test node}), "
          "then get_mempolicy (a posted series; it also reads interleave weights through its proposed "
          "set_mempolicy2/get_mempolicy2)", "ret 0; mode 6, {test node} (4.19: set_mempolicy -1, EINVAL; the "
          "policy stays the default)", "Linux 6.9",
          GM + "test_get_mempolicy01_weighted_interleave_is_an_unknown_mode_in_4_19"),
    stated(LTP, "get_mempolicy02", "invalid-address", "get_mempolicy(MPOL_F_ADDR) at address NULL, where nothing "
           "is mapped (get_mempolicy01's old case 10)", "-1, EFAULT",
           GM + "test_get_mempolicy02_failures[no-mapping-at-address-efault]"),
    stated(LTP, "get_mempolicy02", "invalid-flags", "get_mempolicy with flags -1 (get_mempolicy01's old case 11)",
           "-1, EINVAL", GM + "test_get_mempolicy02_failures[invalid-flags-einval]"),
    # ---- LTP migrate_pages ---------------------------------------------------------------------------------
    stated(LTP, "migrate_pages01", "sane", "migrate_pages(0, maxnode, {n}, {n}) on the own process",
           "ret 0", MIG + "test_migrate_pages01_sane_nodes_return_0"),
    stated(LTP, "migrate_pages01", "invalid-pid", "migrate_pages with pid -1 and with an unused pid",
           "-1, ESRCH", MIG + "test_migrate_pages01_invalid_pid_esrch"),
    stated(LTP, "migrate_pages01", "invalid-masksize", "migrate_pages with maxnode -1", "-1, EINVAL",
           MIG + "test_migrate_pages01_invalid_masksize_einval"),
    not_stated(LTP, "migrate_pages01", "invalid-mem", "migrate_pages with mask pointers -1, to a PROT_NONE page "
               "and to an unmapped page", "-1, EFAULT", "user-pointer"),
    stated(LTP, "migrate_pages01", "invalid-nodes", "migrate_pages with a new mask naming the first node "
           "that has no memory (as root)", "-1, EINVAL", MIG + "test_migrate_pages01_invalid_nodes_einval"),
    stated(LTP, "migrate_pages01", "invalid-perm", "user nobody migrating root's process (the model: the "
           "failed ptrace_may_access as an argument)", "-1, EPERM", MIG + "test_migrate_pages01_invalid_perm_eperm"),
    stated(LTP, "migrate_pages02", "own-private", "the process migrates itself to node B and back to A, "
           "with and without CAP_SYS_NICE; its written private page checked with "
           "get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR)", "ret >= 0; the page on B, then on A (the model: ret 0)",
           MIG + "test_migrate_pages02_own_private_page_goes_to_b_and_back"),
    stated(LTP, "migrate_pages02", "shared", "a shared anonymous page on B: a forked child migrating itself "
           "to A moves it only with CAP_SYS_NICE; the child's private page always moves",
           "the shared page on A with CAP_SYS_NICE, on B without; the private page on A",
           MIG + "test_migrate_pages02_shared_page_moves_only_with_cap_sys_nice"),
    stated(LTP, "migrate_pages02", "other-process", "a process migrates another one's private page, with the "
           "same uid or with CAP_SYS_NICE", "the page on B",
           MIG + "test_migrate_pages02_other_process_page_goes_to_b"),
    not_stated(LTP, "migrate_pages03", "ksm", "20 KSM-merged pages bound to node A migrated between A and B 600 "
               "times by a non-root user (4b0ece6fa016)", "every call ret >= 0", "ksm"),
    # ---- LTP move_pages ------------------------------------------------------------------------------------
    stated(LTP, "move_pages01", "query", "move_pages(nodes NULL) on 2 pages placed on 2 nodes",
           "ret 0; status holds each page's node", MOV + "test_move_pages01_query_reports_each_pages_node"),
    stated(LTP, "move_pages02", "move", "2 pages on node A moved to B with MPOL_MF_MOVE, then written",
           "ret 0; status B, pages on B", MOV + "test_move_pages02_moves_the_pages_to_node_b"),
    stated(LTP, "move_pages03", "move-all-shared", "2 shared pages touched by a forked child, moved to B by "
           "root with MPOL_MF_MOVE_ALL", "ret 0; pages on B",
           MOV + "test_move_pages03_move_all_takes_shared_pages_to_node_b"),
    later(LTP, "move_pages04", "status", "move_pages(MPOL_MF_MOVE) of a page never touched, of a page "
          "mapped to the zero page and of an unmapped address", "status -ENOENT, -EFAULT, -EFAULT (4.19 "
          "and kernels 4.3 to 6.11 report -EFAULT for the untouched page)", "Linux 6.12",
          MOV + "test_move_pages04_untouched_zero_and_unmapped_pages_are_efault_in_4_19"),
    stated(LTP, "move_pages05", "shared-without-move-all", "a MAP_SHARED page touched by a forked child moved "
           "without MPOL_MF_MOVE_ALL", "status -EACCES",
           MOV + "test_move_pages05_a_page_shared_with_a_child_is_eacces_without_move_all"),
    stated(LTP, "move_pages06", "invalid-node", "target node numa_max_node() + 1", "-1, ENODEV",
           MOV + "test_move_pages06_a_node_past_the_last_is_enodev"),
    stated(LTP, "move_pages07", "invalid-pid", "the pid of a child that has exited (the model: a pid no task "
           "has)", "-1, ESRCH", MOV + "test_move_pages07_the_pid_of_an_exited_child_is_esrch"),
    not_stated(LTP, "move_pages08", "e2big", "ULONG_MAX pages", "-1, E2BIG (before 2.6.29 only)", "old-kernel"),
    stated(LTP, "move_pages09", "same-node", "pages moved to the node they are on", "ret 0 (ENOENT before "
           "2.6.28)", MOV + "test_move_pages09_pages_moved_to_their_own_node_return_0"),
    stated(LTP, "move_pages10", "invalid-flags", "move_pages with MPOL_MF_STRICT as flags", "-1, EINVAL",
           MOV + "test_move_pages10_strict_as_flags_is_einval"),
    stated(LTP, "move_pages11", "move-all-unprivileged", "MPOL_MF_MOVE_ALL by a non-root user on pages "
           "shared with a forked child", "-1, EPERM",
           MOV + "test_move_pages11_move_all_without_cap_sys_nice_is_eperm"),
    not_stated(LTP, "move_pages12", "hugetlb-race", "move_pages of hugetlb pages in a loop while the parent maps "
               "and unmaps them (e66f17ff7177)", "no crash, no failure", "hugetlb"),
    # ---- LTP oom -------------------------------------------------------------------------------------------
    not_stated(LTP, "oom01", "overcommit", "with overcommit_memory 1, a child allocating normal, mlocked and "
               "KSM memory until it dies", "the child killed by SIGKILL or exiting with ENOMEM", "oom-kill"),
    stated(LTP, "oom02", "bind", "under MPOL_BIND on the second node, a child writes until memory runs out "
           "(the part before the kill)", "every page from that node; the fault finding it empty fails "
           "(VM_FAULT_OOM, -ENOMEM); the other nodes keep every free page",
           OOM + "test_oom02_bind_uses_only_its_node_then_the_fault_fails"),
    stated(LTP, "oom02", "interleave", "under MPOL_INTERLEAVE on the second and third nodes (the part before "
           "the kill)", "pages alternate between them, then spill; the fault fails only when every node is full",
           OOM + "test_oom02_interleave_and_preferred_spill_before_the_fault_fails[interleave]"),
    stated(LTP, "oom02", "preferred", "under MPOL_PREFERRED on the second and third nodes (the part before the "
           "kill)", "the second node first, then the others; the fault fails only when every node is full",
           OOM + "test_oom02_interleave_and_preferred_spill_before_the_fault_fails[preferred]"),
    not_stated(LTP, "oom02", "kill", "the OOM killer ends the child, for normal, mlocked and KSM memory",
               "SIGKILL or exit status ENOMEM", "oom-kill"),
    not_stated(LTP, "oom03", "memcg", "a child in a memory cgroup with a limit allocating until it dies",
               "SIGKILL or ENOMEM", "memcg"),
    stated(LTP, "oom04", "cpuset", "a child in a cpuset of the first memory node writes until memory runs out "
           "(the part before the kill)", "every page from that node; the fault finding it empty fails; the "
           "other nodes untouched", OOM + "test_oom04_cpuset_of_one_node_then_the_fault_fails"),
    not_stated(LTP, "oom04", "memory-migrate", "the same with cpuset.memory_migrate set to 1",
               "SIGKILL or ENOMEM", "memory-migrate"),
    not_stated(LTP, "oom05", "memcg-cpuset", "a child in a cpuset and a memory cgroup with a limit",
               "SIGKILL or ENOMEM", "memcg"),
    # ---- LTP cpusets ---------------------------------------------------------------------------------------
    *(not_stated(LTP, "cpuset_syscall_testset.sh", f"test{n}", f"a task in a cpuset of cpus {cpus}: {call}",
                 expects, "user-space")
      for n, cpus, call, expects in (
          (1, "0", "sched_setaffinity(cpu 0)", "Cpus_allowed_list 0"),
          (2, "0-1", "sched_setaffinity(cpu 0)", "Cpus_allowed_list 0"),
          (3, "0-1", "sched_setaffinity(cpus 1-2)", "Cpus_allowed_list 1"),
          (4, "0-1", "sched_setaffinity(cpus 2-3)", "the call fails; Cpus_allowed_list 0-1"),
          (5, "0", "sched_getaffinity", "0"),
          (6, "0-1", "sched_getaffinity", "0,1"))),
    *(stated(LTP, "cpuset_syscall_testset.sh", f"test{n}", f"a task in a cpuset of mems {mems}: {call}; the policy "
             "read from numa_maps", expects, CS + f"test_cpuset_syscall_{fn}[{param}]")
      for n, mems, call, expects, fn, param in (
          (7, "0", "mbind(MPOL_BIND, {0}) on 10 MiB", "ret 0; bind:0", "mbind", "test7-mems-0-bind-0"),
          (8, "0-1", "mbind(MPOL_BIND, {0})", "ret 0; bind:0", "mbind", "test8-mems-0-1-bind-0"),
          (9, "0-1", "mbind(MPOL_BIND, {1, 2})", "ret 0; bind:1", "mbind", "test9-mems-0-1-bind-1-2"),
          (10, "0", "mbind(MPOL_BIND, {1, 2})", "the call fails (EINVAL); the mapping shows the task's policy",
           "mbind", "test10-mems-0-bind-1-2"),
          (11, "0", "set_mempolicy(MPOL_BIND, {0})", "ret 0; every mapping bind:0", "set_mempolicy",
           "test11-mems-0-bind-0"),
          (12, "0-1", "set_mempolicy(MPOL_BIND, {0})", "ret 0; bind:0", "set_mempolicy", "test12-mems-0-1-bind-0"),
          (13, "0-1", "set_mempolicy(MPOL_BIND, {1, 2})", "ret 0; bind:1", "set_mempolicy",
           "test13-mems-0-1-bind-1-2"),
          (14, "0", "set_mempolicy(MPOL_BIND, {1, 2})", "the call fails (EINVAL)", "set_mempolicy",
           "test14-mems-0-bind-1-2"),
          (15, "0", "get_mempolicy(MPOL_F_MEMS_ALLOWED)", "ret 0; 0", "get_mempolicy_mems_allowed", "test15-mems-0"),
          (16, "0-1", "get_mempolicy(MPOL_F_MEMS_ALLOWED)", "ret 0; 0-1", "get_mempolicy_mems_allowed",
           "test16-mems-0-1"))),
    stated(LTP, "cpuset_memory_testset.sh", "test1", "a task on CPU 0 in a cpuset of mems 0 writes one anonymous "
           "page", "the page on node 0",
           CS + "test_cpuset_memory_anonymous_page_on_the_cpuset_node[test1-test7-mems-0]"),
    stated(LTP, "cpuset_memory_testset.sh", "test2", "the same with a MAP_SHARED mapping of /dev/zero",
           "the page on node 0", CS + "test_cpuset_memory_shared_page_on_the_cpuset_node"),
    stated(LTP, "cpuset_memory_testset.sh", "test3", "the same with a System V shared memory segment",
           "the page on node 0", CS + "test_cpuset_memory_shared_page_on_the_cpuset_node"),
    not_stated(LTP, "cpuset_memory_testset.sh", "test4", "the same with a MAP_LOCKED mapping", "the page on node 0",
               "mlock"),
    not_stated(LTP, "cpuset_memory_testset.sh", "test5", "the same with mlock before the write",
               "the page on node 0", "mlock"),
    not_stated(LTP, "cpuset_memory_testset.sh", "test6", "the same with a hugetlb shared memory segment",
               "the huge page on node 0", "hugetlb"),
    stated(LTP, "cpuset_memory_testset.sh", "test7", "test 1 again", "the page on node 0",
           CS + "test_cpuset_memory_anonymous_page_on_the_cpuset_node[test1-test7-mems-0]"),
    stated(LTP, "cpuset_memory_testset.sh", "test8", "a task on CPU 0 (node 0) in a cpuset of mems 1 writes one "
           "page", "the page on node 1",
           CS + "test_cpuset_memory_anonymous_page_on_the_cpuset_node[test8-cpu-of-node-0-mems-1]"),
    stated(LTP, "cpuset_memory_testset.sh", "test9", "a page written in a cpuset of mems 0; the task moved to a "
           "cpuset of mems 1 (memory_migrate off); the page written again, then a new one",
           "0, then 0 (not moved), then 1",
           CS + "test_cpuset_memory_moving_the_task_leaves_its_page_and_places_the_next"),
    not_stated(LTP, "cpuset_memory_testset.sh", "test10", "test 9 with memory_migrate on in the second cpuset",
               "0, then 1 (moved), then 1", "memory-migrate"),
    stated(LTP, "cpuset_memory_testset.sh", "test11", "a page written in a cpuset of mems 1; the mems written to 0; "
           "the page freed and a new one written", "1, then 0",
           CS + "test_cpuset_memory_mems_rewritten_place_the_next_page"),
    not_stated(LTP, "cpuset_memory_testset.sh", "test12", "test 11 with memory_migrate on", "1, then 0 (moved), "
               "then 0", "memory-migrate"),
    *(not_stated(LTP, "cpuset_memory_testset.sh", f"test{n}", what, expects, "threads")
      for n, what, expects in (
          (13, "two threads of one process in cpusets of mems 0 and mems 1 each write a page", "0 and 1"),
          (14, "test 13 with memory_migrate on in the second cpuset", "0 and 1"),
          (15, "test 14, then memory_migrate on in the first cpuset and the first thread writes again",
           "0, 1, then 0"),
          (16, "both threads in cpusets of mems 1, the first one's mems then written to 0", "1, 1, then 0 and 1"),
          (17, "test 16 with memory_migrate on in both cpusets", "1, 1, then 0 and 1"))),
    stated(LTP, "cpuset01", "rebind", "a task under MPOL_BIND over every node keeps writing 10 pages at a time "
           "while its cpuset's mems are written to the first node, then the second", "every write succeeds "
           "(on the node the cpuset allows)", CS + "test_cpuset01_bind_over_every_node_follows_the_mems_written"),
    stated(LTP, "cpuset01", "race", "the same with the writes racing the mems change, one writer per CPU "
           "(c0ff7453bb5c, 708c1bbc9d0c; the model: one write racing one mems write, every interleaving of up "
           "to 6 switches)", "no child fails or is killed",
           CS + "test_cpuset01_writes_racing_the_mems_change_never_fail"),
    not_stated(LTP, "cpuset02", "hugetlbfs", "a hugetlbfs file page written in a cpuset of the last node",
               "the huge page on that node", "hugetlb"),
    # ---- LTP numa01.sh -------------------------------------------------------------------------------------
    stated(LTP, "numa01.sh", "test1-membind", "numactl --cpunodebind=n --membind=n: a program writing 1 MiB "
           "(16 pages here)", "at least 1 MiB on n (the model: all of it)",
           NC + "test_numa01_membind_with_cpunodebind_puts_all_on_the_node"),
    stated(LTP, "numa01.sh", "test2-preferred", "numactl --cpunodebind=n --preferred=the next node",
           "at least 1 MiB on the next node (the model: all of it)", NC + "test_numa01_preferred_next_node_gets_all"),
    stated(LTP, "numa01.sh", "test3-interleave", "numactl --interleave=all with the program writing 1 MiB",
           "at least 1 MiB / N on each node (the model: exactly)",
           NC + "test_numa01_interleave_all_gives_each_node_its_share"),
    not_stated(LTP, "numa01.sh", "test4-physcpubind", "numactl --physcpubind=cpu: the process runs on that CPU",
               "the CPU field of /proc/pid/stat", "user-space"),
    stated(LTP, "numa01.sh", "test5-localalloc", "numactl --cpunodebind=n --localalloc",
           "at least 1 MiB on n (the model: all of it)", NC + "test_numa01_localalloc_follows_the_cpu_node"),
    stated(LTP, "numa01.sh", "test6-memhog", "numactl --interleave=all memhog 1MB",
           "at least 1 MiB / N on each node (the model: exactly)",
           NC + "test_numa01_interleave_all_gives_each_node_its_share"),
    not_stated(LTP, "numa01.sh", "test7-hardware", "numactl --hardware prints 'available: N nodes'",
               "that first line", "user-space"),
    stated(LTP, "numa01.sh", "test8-migratepages", "a program under numactl --preferred=n writes 1 MiB (16 pages "
           "here); migratepages pid n next",
           "at least 1 MiB on the next node (the model: all of it)",
           MIG + "test_numa01_migratepages_moves_the_1mib_to_the_next_node"),
    not_stated(LTP, "numa01.sh", "test9-hugetlb", "one hugetlb page under --membind=n", "a huge page on n",
               "hugetlb"),
    stated(LTP, "numa01.sh", "test10-thp", "with THP always on, --cpunodebind=n --preferred=next node and two "
           "huge-page-sized writes", "at least 2 huge pages on the next node (the model: two order-9 pages)",
           NC + "test_numa01_thp_on_the_preferred_node"),
    # ---- numactl -------------------------------------------------------------------------------------------
    stated(NUMACTL, "regress", "interleave", "numactl --interleave=n0,n1 memhog: numastat before and after",
           "interleave_hit of each node grows by >= PAGES/2 - 100 (the model: exactly PAGES/2)",
           NC + "test_regress_interleave_over_two_nodes_hits_each_with_half[task-policy]"),
    stated(NUMACTL, "regress", "interleave-mbind", "memhog's own mbind interleave n0,n1",
           "interleave_hit of each node grows by >= PAGES/2 - 100 (the model: exactly PAGES/2)",
           NC + "test_regress_interleave_over_two_nodes_hits_each_with_half[range-policy]"),
    stated(NUMACTL, "regress", "membind", "numactl --membind=n0,n1 memhog",
           "numa_hit of n0 and n1 together grows by >= PAGES (the model: exactly)",
           NC + "test_regress_membind_over_two_nodes_hits_pages[task-policy]"),
    stated(NUMACTL, "regress", "membind-mbind", "memhog's own mbind membind n0,n1",
           "numa_hit of n0 and n1 together grows by >= PAGES (the model: exactly)",
           NC + "test_regress_membind_over_two_nodes_hits_pages[range-policy]"),
    stated(NUMACTL, "regress", "membind-preferred", "for each node i: numactl --membind=i memhog, then "
           "--preferred=i memhog", "numa_hit of i grows by >= 2 PAGES - 200 (the model: exactly 2 PAGES)",
           NC + "test_regress_membind_then_preferred_on_each_node_hits_double[task-policy]"),
    stated(NUMACTL, "regress", "membind-preferred-mbind", "the same with memhog's own mbind",
           "numa_hit of i grows by >= 2 PAGES - 200 (the model: exactly 2 PAGES)",
           NC + "test_regress_membind_then_preferred_on_each_node_hits_double[range-policy]"),
    stated(NUMACTL, "regress", "other-options", "memhog under --interleave=all, --membind=all and --localalloc",
           "memhog succeeds (every page written; all freed at exit)",
           NC + "test_regress_other_options_let_memhog_finish"),
    stated(NUMACTL, "prefered.c", "each-node", "for each node i from the highest: one page mbound "
           "MPOL_PREFERRED {i} and written", "get_mempolicy(MPOL_F_ADDR): MPOL_PREFERRED with bit i; "
           "get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR): i", NC + "test_prefered_c_each_node_preferred_for_one_page"),
    stated(NUMACTL, "migrate_pages.c", "migrate", "32 pages (one never touched) placed on node 1 with "
           "move_pages, then migrate_pages from {1} to {0}", "every touched page on node 0, contents "
           "intact (the model has no contents: each page's node)",
           MIG + "test_numactl_migrate_pages_c_moves_every_touched_page_to_node_0"),
    stated(NUMACTL, "move_pages.c", "move", "32 pages (one never touched) moved with move_pages to the nodes "
           "in turn", "ret >= 0; every touched page's contents intact (the model: ret 0, each touched page on "
           "its node)", MOV + "test_numactl_move_pages_c_moves_the_pages_to_the_nodes_in_turn"),
    stated(NUMACTL, "mbind_mig_pages.c", "mbind-move", "32 pages (one never touched) moved to node 0 with "
           "move_pages, then mbind(MPOL_BIND {0}, MPOL_MF_MOVE|STRICT) and MPOL_BIND {1} the same way",
           "both calls ret 0; every touched page on node 1, contents "
           "intact (the model: each page's node)",
           MOV + "test_numactl_mbind_mig_pages_c_moves_every_page_to_node_1"),
    not_stated(NUMACTL, "checkaffinity", "physcpubind", "numactl --physcpubind=cpu and --cpunodebind=node: the "
               "program runs there and numactl --show agrees", "the CPU and node printed", "user-space"),
    not_stated(NUMACTL, "bind_range", "all-option", "numactl --all lifts the cpuset restriction of "
               "--physcpubind and --cpunodebind, and must come first", "numactl's exit status", "user-space"),
    *(stated(NUMACTL, "shmtest", kind, f"numactl {how}: --interleave=0,1, --membind=1 and --preferred=1 on "
             "2 MiB pieces of a 20 MiB object, each with --strict --verify", "numactl's verification of the "
             "object's policy passes", NC + "test_shmtest_policies_on_pieces_of_a_shared_object_verify")
      for kind, how in (("shm", "--shm (System V shared memory)"), ("tmpfs", "--file on tmpfs"))),
    not_stated(NUMACTL, "shmtest", "hugeshm", "numactl --huge --shm (hugetlb shared memory): --interleave=0,1, "
               "--membind=1 and --preferred=1 on 2 MiB pieces of a 20 MiB object, each with --strict --verify",
               "numactl's verification of the object's policy passes", "hugetlb"),
    not_stated(NUMACTL, "checktopology", "hardware", "numactl --hardware lists every node of sysfs and each "
               "node's CPUs as sysfs links them", "the same nodes and CPUs", "user-space"),
    not_stated(NUMACTL, "distance", "slit", "numa_distance: 10 from a node to itself, the same both ways",
               "10; d(a, b) == d(b, a)", "user-space"),
    # ---- numa_memory_policy.rst ----------------------------------------------------------------------------
    not_stated(DOC, "numa_memory_policy.rst", "boot-interleave", "during boot the system default policy "
               "interleaves over the nodes with enough memory", "boot-time pages spread over the nodes", "boot"),
    stated(DOC, "numa_memory_policy.rst", "system-default-local", "once up, the system default policy is local "
           "allocation", "a task without a policy allocates on its CPU's node",
           "test_mempolicy.py::test_get_task_policy_without_policy_is_the_cpu_nodes_preferred_node_policy"),
    stated(DOC, "numa_memory_policy.rst", "task-policy-fork", "the task policy is inherited across fork()",
           "the child reports and follows the parent's policy",
           PD + "test_doc_task_and_vma_policies_are_inherited_across_fork"),
    not_stated(DOC, "numa_memory_policy.rst", "task-policy-exec", "the task policy is inherited across exec*(); "
               "VMA policies are not", "the new image runs under the old task policy", "exec"),
    not_stated(DOC, "numa_memory_policy.rst", "task-policy-threads", "a task policy applies to the thread that "
               "installs it and threads it creates later, not to existing siblings; VMA policies are shared by "
               "all threads", "siblings keep their policy", "threads"),
    stated(DOC, "numa_memory_policy.rst", "later-pages-only", "a new task policy, and a VMA policy without "
           "MPOL_MF_MOVE, applies only to pages allocated afterwards", "pages already faulted stay where they are",
           PD + "test_doc_a_new_policy_leaves_the_pages_already_faulted"),
    stated(DOC, "numa_memory_policy.rst", "vma-policy-fork", "VMA policies are inherited across fork()",
           "the child's range reports and follows the policy",
           PD + "test_doc_task_and_vma_policies_are_inherited_across_fork"),
    stated(DOC, "numa_memory_policy.rst", "vma-policy-files", "a VMA policy is ignored on MAP_SHARED file "
           "mappings and applies only at copy-on-write on MAP_PRIVATE ones; page cache pages follow the task "
           "policy", "the task policy's node for page cache pages",
           PD + "test_doc_vma_policy_on_file_mappings_applies_only_at_copy_on_write"),
    stated(DOC, "numa_memory_policy.rst", "vma-policy-split", "mbind on a sub-range splits the VMA into 2 or 3, "
           "each with its own policy", "three VMAs for a range in the middle",
           "test_mempolicy_syscalls.py::test_mbind_splits_and_merges_back"),
    stated(DOC, "numa_memory_policy.rst", "cpuset-priority", "when a cpuset and a policy both apply, the "
           "cpuset's restriction takes priority", "a BIND policy whose nodes the cpuset no longer allows is not "
           "used", "test_mempolicy.py::test_bind_is_ignored_when_its_nodes_miss_the_cpuset"),
    stated(DOC, "numa_memory_policy.rst", "default-no-nodes", "MPOL_DEFAULT: a non-empty set of nodes is an error",
           "EINVAL", "test_mempolicy_syscalls.py::test_mpol_new_rejects"),
    stated(DOC, "numa_memory_policy.rst", "default-falls-back", "MPOL_DEFAULT on a range removes its policy: the "
           "range falls back to the task policy", "pages placed by the task policy; MPOL_DEFAULT reported",
           PD + "test_doc_default_on_a_range_falls_back_to_the_task_policy"),
    stated(DOC, "numa_memory_policy.rst", "bind", "MPOL_BIND: memory only from the set, from its node closest "
           "to where the allocation takes place", "the local zonelist's first allowed node; never outside the set",
           "test_mempolicy.py::test_bind_walks_the_local_zonelist_not_node_id_order",
           "test_mempolicy.py::test_bind_never_falls_back_outside_its_mask"),
    stated(DOC, "numa_memory_policy.rst", "preferred", "MPOL_PREFERRED: the one node first, then the others in "
           "order of distance from it", "the preferred node's zonelist",
           "test_mempolicy.py::test_preferred_falls_back_along_the_preferred_nodes_zonelist"),
    stated(DOC, "numa_memory_policy.rst", "local", "MPOL_PREFERRED with an empty mask: local allocation",
           "the allocating CPU's node", "test_mempolicy.py::test_local_allocation_follows_the_cpu"),
    stated(DOC, "numa_memory_policy.rst", "local-no-flags", "an empty MPOL_PREFERRED mask cannot carry "
           "MPOL_F_STATIC_NODES or MPOL_F_RELATIVE_NODES", "EINVAL",
           "test_mempolicy_syscalls.py::test_mpol_new_rejects"),
    stated(DOC, "numa_memory_policy.rst", "interleave-offset", "MPOL_INTERLEAVE on anonymous pages: the page "
           "offset in the VMA modulo the number of nodes picks the node", "node k of the mask for offset k mod N",
           "test_mempolicy.py::test_vma_interleave_is_by_page_offset",
           "test_page_table.py::test_interleave_on_a_vma_spreads_pages_by_page_offset_as_interleave_nid_computes"),
    stated(DOC, "numa_memory_policy.rst", "interleave-fallback", "the interleave node is where the allocation "
           "starts, as for a preferred node", "a full node's page comes from its zonelist's next node",
           PD + "test_doc_interleave_starts_at_its_node_and_falls_back_like_preferred"),
    stated(DOC, "numa_memory_policy.rst", "interleave-counter", "allocations without a VMA: a per-task counter "
           "that wraps to the lowest node", "the mask's nodes in turn", "test_mempolicy.py::"
           "test_interleave_over_a_mask_with_gaps"),
    stated(DOC, "numa_memory_policy.rst", "static-example", "MPOL_F_STATIC_NODES: an interleave over 1-3 in a "
           "cpuset moved from 1-3 to 3-5", "node 3 only (without the flag: 3, 4, 5)",
           "test_rebind.py::test_doc_static_nodes_example"),
    differs(DOC, "numa_memory_policy.rst", "static-none-allowed", "MPOL_F_STATIC_NODES: when none of the user's "
            "nodes are allowed any more, the Default behavior is used", "4.19: the whole new set of allowed "
            "nodes (mpol_rebind_nodemask), not local allocation",
            PD + "test_doc_static_nodes_with_no_allowed_node_interleave_over_the_new_mems_in_4_19",
            "test_rebind.py::test_doc_static_nodes_example"),
    stated(DOC, "numa_memory_policy.rst", "static-relative-together", "MPOL_F_STATIC_NODES cannot be combined "
           "with MPOL_F_RELATIVE_NODES", "EINVAL",
           "test_mempolicy_syscalls.py::test_set_mempolicy_static_and_relative_together"),
    stated(DOC, "numa_memory_policy.rst", "relative-example", "MPOL_F_RELATIVE_NODES: an interleave over 2-5 in "
           "a cpuset of 2-5 moved to 3-7, then to 0,2-3,5", "3,5-7, then 0,2-3,5",
           "test_rebind.py::test_doc_relative_nodes_example"),
    stated(DOC, "numa_memory_policy.rst", "cpuset-intersection", "a policy's nodes outside the cpuset are "
           "dropped (without MPOL_F_RELATIVE_NODES); an empty result cannot be installed",
           "the intersection; EINVAL when it is empty",
           "test_mempolicy_syscalls.py::test_nodes_are_cut_to_the_cpuset_and_the_cpuset_is_remembered",
           "test_mempolicy_syscalls.py::test_mpol_set_nodemask_rejects_nodes_outside_the_cpuset"),
    stated(DOC, "numa_memory_policy.rst", "calling-task-only", "the system calls affect only the calling task "
           "and its address space", "another task's VMAs unchanged",
           "test_mempolicy_syscalls.py::test_mbind_acts_on_the_calling_tasks_vmas_only"),
    stated(DOC, "numa_memory_policy.rst", "shared-policy", "shared policies on shmem regions apply to every "
           "task mapping them", "the region's policy, whoever faults",
           PD + "test_doc_shared_policy_applies_to_every_task_mapping_the_region"),
)


# ---- counts and the document -------------------------------------------------------------------------------
def counts():
    """(rows per status, not-stated rows per missing feature, rows per suite)."""
    return (Counter(e.status for e in CATALOGUE), Counter(e.missing for e in CATALOGUE if e.missing),
            Counter(e.suite for e in CATALOGUE))


def run_stated_tests():
    """Run the tests of every stated row; {row key: True when every case of its tests passed}."""
    import pytest  # only the summary needs pytest

    outcomes = {}

    class Recorder:
        def pytest_runtest_logreport(self, report):
            if report.failed or report.when == "call":
                outcomes[report.nodeid] = outcomes.get(report.nodeid, True) and report.passed

    ids = sorted({t for e in CATALOGUE for t in e.tests})
    pytest.main(["-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT), *(str(ROOT / "tests" / t) for t in ids)],
                plugins=[Recorder()])

    def passed(test_id):
        mine = [ok for nodeid, ok in outcomes.items()
                if nodeid == "tests/" + test_id or nodeid.startswith("tests/" + test_id + "[")]
        return bool(mine) and all(mine)

    return {e.key: all(map(passed, e.tests)) for e in CATALOGUE if e.tests}


def summary(passing):
    by_status, by_missing, by_suite = counts()
    stated_rows = [e for e in CATALOGUE if e.tests]
    lines = [f"NUMA expectations of LTP, numactl and numa_memory_policy.rst: {len(CATALOGUE)} "
             f"({', '.join(f'{s} {n}' for s, n in sorted(by_suite.items()))})"]
    for status in (PASSES, LATER, DIFFERS):
        rows = [e for e in stated_rows if e.status == status]
        ok = sum(passing[e.key] for e in rows)
        lines.append(f"  {status}: {len(rows)} ({ok} of them pass on the model now)")
    lines.append(f"  {NOT_STATED}: {by_status[NOT_STATED]}")
    for key, n in by_missing.most_common():
        lines.append(f"    {n:3d}  {key}: {MISSING[key]}")
    return "\n".join(lines)


def markdown():
    by_status, by_missing, by_suite = counts()
    out = [
        "# The NUMA expectations of LTP and numactl, stated against the model",
        "",
        "<!-- generated by `python tests/ltp_expectations.py --markdown`; tests/test_ltp_expectations.py "
        "checks it is current -->",
        "",
        "LTP's NUMA system-call and OOM tests, numactl's regression tests and the kernel's "
        "numa_memory_policy.rst assert what Linux does with memory policies. Each of their expectations is "
        "one row below, restated in this project's words, with its status on the model:",
        "",
        f"- **{PASSES}**: a test under tests/ runs the same steps on the model and asserts the same values;",
        f"- **{LATER}**: the suite's answer holds from the kernel named; the test asserts 4.19's answer;",
        f"- **{DIFFERS}**: the text promises what 4.19 does not do; the test asserts 4.19's "
        "answer;",
        f"- **{NOT_STATED}**: a model feature is missing (the last table says which).",
        "",
        "The data lives in tests/ltp_expectations.py. `python tests/ltp_expectations.py --summary` prints the "
        "counts and runs every stated row's tests, saying how many pass. The machines are small: the tests "
        "scale the suites' sizes down (16 pages for numactl's 15 MiB and numa01.sh's 1 MiB) and, with "
        "nothing else running, assert exact counts where the suites allow slack. Where a suite runs the "
        "same check in a forked child, the child's half is a row of its own. numactl's programs that print "
        "without asserting (nodemap, tshared) and libnuma's own unit tests are not catalogued.",
        "",
        "| Suite | Where its tests are |",
        "|---|---|",
        *(f"| {suite} | " + ", ".join(f"`{w}`" for w in where.split(", ")) + " |" for suite, where in SOURCES.items()),
        "",
        "## Counts",
        "",
        "| Status | Rows |",
        "|---|---|",
        *(f"| {s} | {by_status[s]} |" for s in STATUSES),
        f"| total | {len(CATALOGUE)} |",
        "",
        "## The expectations",
        "",
        "| Suite | Test | Case | Asserted | Values | Status | Stated by / missing |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in CATALOGUE:
        status = f"{e.status} ({e.since})" if e.since else e.status
        where = "<br>".join(f"`{t}`" for t in e.tests) if e.tests else e.missing
        cells = (e.suite, e.test, e.case, e.asserts, e.expects, status, where)
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    out += ["", "## What the rows not stated need", "", "| Missing | Rows | The feature |", "|---|---|---|"]
    out += [f"| {key} | {n} | {MISSING[key]} |" for key, n in by_missing.most_common()]
    return "\n".join(out) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description="The LTP/numactl NUMA expectations and their status on the model.")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--summary", action="store_true", help="print the counts, running the stated rows' tests")
    what.add_argument("--markdown", action="store_true", help="print docs/ltp-expectations.md")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown())
        return 0
    passing = run_stated_tests()
    print(summary(passing))
    return 0 if all(passing.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
