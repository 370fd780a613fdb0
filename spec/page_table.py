"""Page-table invariants: what the tasks' page tables may say about the allocator's pages.

- mapped_allocated: every page-table entry of a real page (not the zero page) names the head of an
  allocated block of the entry's order: a mapping never points at a free or per-cpu page, nor into
  the middle of a block;
- mapped_once: no allocated page is mapped by two entries of one task, unless a page cache holds it
  (an anonymous page belongs to one address of an mm; fork gives the child its own mapping of the
  page, at the same address; a file's or shmem object's page is mapped by every mapping of it that
  faulted it, in one task or several);
- cow_write_protected: a page no cache holds that is mapped by two or more entries (of different
  tasks, after fork) is write-protected in every one of them, and only entries of real pages are
  write-protected: a task may write only to an anonymous page no other task maps (copy-on-write). A
  cached page is exempt: shared mappings of it write to it in place, and a private mapping's entry
  of it is write-protected by the fault that mapped it;
- page_cache_once: every page in a file's or shmem object's cache is the head of an allocated
  order-0 block, held at one index of one inode (model/filemap.py): a cached page is never free,
  never on a per-cpu list, and never counted twice.

Conservation (spec/invariants.py) keeps judging the pages themselves: a mapped page is an
allocated block like any other, and munmap frees it through the free path.

No Z3 encoding: the claims are lookups of each mapping's pfn among the allocated blocks of one
concrete state, with no for-all question over inputs that a solver would answer beyond what the
concrete check sees; the symbolic view (spec/symbolic.py) has no page tables nor page caches. So these are
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
    meaning = "no allocated page no cache holds is mapped by two page-table entries of one task (once per task)"
    kernel = ("an anonymous private page is mapped by the fault that allocated it; copy_page_range gives the "
              "forked child its own mapping at the same address, never a second one in the same mm")
    exceptions = ("the zero page is shared by every read fault and is not judged",
                  "a page a file or shmem object caches is mapped by each of its mappings that faulted it")

    def check(self, view):
        seen = {}
        out = []
        cached = {pfn for _, _, pfn in view.cached}
        for tid, addr, pfn, _ in view.mappings:
            if pfn in cached:
                continue
            first = seen.setdefault((tid, pfn), addr)
            if first != addr:
                out.append(self.violation(
                    f"pfn {pfn} is mapped twice by task {tid}: at {first:#x} and at {addr:#x}",
                    pfn=pfn, task=tid, addr=addr))
        return out

    def encode(self, sym):
        raise NotImplementedError("mapped_once has no Z3 encoding (see spec/page_table.py)")


class CowWriteProtected(StateInvariant):
    name = "cow_write_protected"
    meaning = ("a page no cache holds mapped by more than one page-table entry is write-protected in each, and only "
               "entries of real pages are write-protected")
    kernel = ("copy_one_pte and copy_huge_pmd write-protect the entry in parent and child before the page gains "
              "its second mapping; do_wp_page makes an entry writable again only through wp_page_reuse, when "
              "the page is mapped once, and wp_page_copy maps a new page")
    exceptions = ("the zero page is read-only everywhere and is not judged",
                  "a page a file or shmem object caches: its shared mappings write to it in place")

    def check(self, view):
        protected = set(view.wrprotected)
        entries = {(tid, addr) for tid, addr, _, _ in view.mappings}
        cached = {pfn for _, _, pfn in view.cached}
        mappers = {}
        for tid, addr, pfn, _ in view.mappings:
            if pfn not in cached:
                mappers.setdefault(pfn, []).append((tid, addr))
        out = []
        for pfn, where in mappers.items():
            if len(where) > 1:
                for tid, addr in where:
                    if (tid, addr) not in protected:
                        out.append(self.violation(
                            f"pfn {pfn} is mapped {len(where)} times but task {tid} may write it at {addr:#x}",
                            pfn=pfn, task=tid, addr=addr))
        for tid, addr in sorted(protected - entries):
            out.append(self.violation(f"task {tid} has a write-protected address {addr:#x} that maps no allocated page",
                                      task=tid, addr=addr))
        return out

    def encode(self, sym):
        raise NotImplementedError("cow_write_protected has no Z3 encoding (see spec/page_table.py)")


class PageCacheOnce(StateInvariant):
    name = "page_cache_once"
    meaning = ("every page in a file's or shmem object's cache is the head of an allocated order-0 block, held at "
               "one index of one inode")
    kernel = ("shmem_getpage_gfp and page_cache_read add to the cache only a page shmem_alloc_page or "
              "__page_cache_alloc has just returned, at an index the lookup found empty; the cache holds a "
              "reference, so zap_pte_range (munmap) never frees the page; only shmem_evict_inode's truncation frees "
              "it, after removing it from the cache")
    exceptions = ()

    def check(self, view):
        allocated = {pfn: order for pfn, order, _ in view.allocated}
        seen = {}
        out = []
        for ino, index, pfn in view.cached:
            held = allocated.get(pfn)
            if held is None:
                out.append(self.violation(
                    f"inode {ino} caches pfn {pfn} at index {index}, which is not an allocated block",
                    ino=ino, index=index, pfn=pfn))
            elif held != 0:
                out.append(self.violation(
                    f"inode {ino} caches pfn {pfn} at index {index}, a block of order {held}, not 0",
                    ino=ino, index=index, pfn=pfn))
            first = seen.setdefault(pfn, (ino, index))
            if first != (ino, index):
                out.append(self.violation(
                    f"pfn {pfn} is cached twice: by inode {first[0]} at index {first[1]} and by inode "
                    f"{ino} at index {index}", ino=ino, index=index, pfn=pfn))
        return out

    def encode(self, sym):
        raise NotImplementedError("page_cache_once has no Z3 encoding (see spec/page_table.py)")


PAGE_TABLE_INVARIANTS = (MappedAllocated(), MappedOnce(), CowWriteProtected(), PageCacheOnce())
