"""Page-table invariants: what the tasks' page tables may say about the allocator's pages.

- mapped_allocated: every page-table entry of a real page (not the zero page) names the head of an
  allocated block of the entry's order: a mapping never points at a free or per-cpu page, nor into
  the middle of a block;
- mapped_once: no allocated page is mapped by two entries (there is no fork or shared mapping, so
  each user page has one mapping, the one its fault made).

Conservation (spec/invariants.py) keeps judging the pages themselves: a mapped page is an
allocated block like any other, and munmap frees it through the free path.

No Z3 encoding: both claims are lookups of each mapping's pfn among the allocated blocks of one
concrete state, with no for-all question over inputs that a solver would answer beyond what the
concrete check sees; the symbolic view (spec/symbolic.py) has no page tables. So these are
concrete-only state invariants, judged by the explorer on every state, and not part of
STATE_INVARIANTS, whose members each carry an encoding.
"""

from .invariants import StateInvariant


class MappedAllocated(StateInvariant):
    name = "mapped_allocated"
    meaning = ("every page-table entry of a real page maps the head of an allocated block of the entry's order "
               "(never a free or per-cpu page)")
    kernel = ("do_anonymous_page, wp_page_copy and do_huge_pmd_anonymous_page map only a page alloc_pages_vma has "
              "just returned; zap_pte_range clears the entry before the page is freed (tlb_finish_mmu), and "
              "nothing else frees a mapped page: the mapping holds a reference")
    exceptions = ("the zero page is not a page of the buddy allocator and is not judged",)

    def check(self, view):
        allocated = {pfn: order for pfn, order, _ in view.allocated}
        out = []
        for tid, addr, pfn, order in view.mappings:
            held = allocated.get(pfn)
            if held is None:
                out.append(self.violation(f"task {tid} maps pfn {pfn} at {addr:#x}, which is not an allocated block",
                                          task=tid, addr=addr, pfn=pfn))
            elif held != order:
                out.append(self.violation(
                    f"task {tid} maps pfn {pfn} at {addr:#x} as order {order}, but its block has order {held}",
                    task=tid, addr=addr, pfn=pfn))
        return out

    def encode(self, sym):
        raise NotImplementedError("mapped_allocated has no Z3 encoding (see spec/page_table.py)")


class MappedOnce(StateInvariant):
    name = "mapped_once"
    meaning = "no allocated page is mapped by two page-table entries, of one task or of two"
    kernel = ("an anonymous private page is mapped by the fault that allocated it and by nothing else unless "
              "fork shares it, which the model does not have")
    exceptions = ("the zero page is shared by every read fault and is not judged",)

    def check(self, view):
        seen = {}
        out = []
        for tid, addr, pfn, _ in view.mappings:
            first = seen.setdefault(pfn, (tid, addr))
            if first != (tid, addr):
                out.append(self.violation(
                    f"pfn {pfn} is mapped twice: by task {first[0]} at {first[1]:#x} and by task {tid} at {addr:#x}",
                    pfn=pfn, task=tid, addr=addr))
        return out

    def encode(self, sym):
        raise NotImplementedError("mapped_once has no Z3 encoding (see spec/page_table.py)")


PAGE_TABLE_INVARIANTS = (MappedAllocated(), MappedOnce())
