## Test harness: GSVA 2.x (rcastelo/GSVA, the sources in ../shared/reference-impl) beside
## Debian's GSVA 1.46, without installing it.
##
## The C code is compiled by tests/gsva2ref.py (R CMD SHLIB) into a library named gsva2ref,
## loaded under that name, so its R_init_GSVA is never called and GSVA 1.46's own library can
## be loaded too. Only the function definitions named in NEEDED are evaluated from the R
## sources, in an environment whose .Call is bound to gsva2ref; nothing of GSVA 2.x is copied
## into the project. Environment: GSVA2_SRC (source folder), GSVA2_LIB (compiled library).
suppressPackageStartupMessages({
  library(methods)
  library(cli)
  library(BiocParallel)
  library(IRanges)
  library(sparseMatrixStats)
})

NEEDED <- c(".filterGenes", ".mapGeneSetsToFeatures", ".parse_kcdf_param",
            ".sufficient_ssize", ".compute_gsva_ranks", "compute.gene.cdf",
            ".ecdfvals_dense_to_dense", ".ecdfvals_dense_to_dense_nas",
            ".ranks2stats", ".ranks2stats_nas", ".gsvaRndWalk", ".gsvaRndWalk_nas",
            ".compute_gsva_scores", "ssgsea", ".fastRndWalk", ".fastRndWalkNArm")

gsva2_env <- local({
  dyn.load(Sys.getenv("GSVA2_LIB"))
  env <- new.env(parent = globalenv())
  env$.Call <- function(.NAME, ...) base::.Call(.NAME, ..., PACKAGE = "gsva2ref")
  src <- Sys.getenv("GSVA2_SRC")
  found <- character(0)
  for (f in c("utils.R", "gsva.R", "ssgsea.R")) {
    for (e in parse(file.path(src, "R", f), keep.source = FALSE)) {
      if (is.call(e) && (identical(e[[1]], as.name("<-")) || identical(e[[1]], as.name("="))) &&
          is.name(e[[2]]) && as.character(e[[2]]) %in% NEEDED) {
        eval(e, env)
        found <- c(found, as.character(e[[2]]))
      }
    }
  }
  ## filterGeneSets(<list>): the method's function, from its setMethod() call
  for (e in parse(file.path(src, "R", "genesets.R"), keep.source = FALSE)) {
    if (is.call(e) && identical(e[[1]], as.name("setMethod")) &&
        identical(e[[2]], "filterGeneSets") && identical(deparse(e[[3]]),
                                                          'signature(gSets = "list")')) {
      env$filterGeneSets_list <- eval(e[[4]], env)
      found <- c(found, "filterGeneSets_list")
    }
  }
  NEEDED <- c(NEEDED, "filterGeneSets_list")
  missing <- setdiff(NEEDED, found)
  if (length(missing)) stop("not found in the GSVA 2.x sources: ", paste(missing, collapse = ", "))
  env
})

## gsva(gsvaParam(x, gs, kcdf, kcdfNoneMinSampleSize, tau, maxDiff, absRanking, minSize,
## use = na_use)) on a dense matrix, through the package's own internal functions.
gsva2 <- function(x, gs, kcdf = "auto", kcdf.min.ssize = 200, minSize = 1,
                  na_use = "everything", tau = 1, maxDiff = TRUE, absRanking = FALSE) {
  {
    y <- .filterGenes(x, removeConstant = TRUE, removeNzConstant = TRUE)
    idx <- filterGeneSets_list(.mapGeneSetsToFeatures(gs, rownames(y)), minSize = minSize)
    any_na <- anyNA(y)
    R <- .compute_gsva_ranks(y, kcdf, kcdf.min.ssize, sparse = FALSE, any_na = any_na,
                             na_use = na_use, verbose = FALSE)
    es <- .compute_gsva_scores(R, idx, tau, maxDiff, absRanking, sparse = FALSE,
                               any_na = any_na, na_use = na_use, minSize = minSize,
                               verbose = FALSE)
    rownames(es) <- names(idx)
    colnames(es) <- colnames(y)
    es
  }
}
environment(gsva2) <- gsva2_env

## gsva(ssgseaParam(x, gs, alpha, normalize, minSize, use = na_use)) on a dense matrix.
ssgsea2 <- function(x, gs, alpha = 0.25, normalize = TRUE, minSize = 1,
                    na_use = "everything") {
  {
    y <- .filterGenes(x, removeConstant = FALSE, removeNzConstant = FALSE)
    idx <- filterGeneSets_list(.mapGeneSetsToFeatures(gs, rownames(y)), minSize = minSize)
    ssgsea(y, idx, alpha = alpha, normalization = normalize, any_na = anyNA(y),
           na_use = na_use, minSize = minSize, verbose = FALSE)
  }
}
environment(ssgsea2) <- gsva2_env

## Runs every case listed in cases.tsv (name, fun, args as R code): reads <name>/expr.tsv
## (NA = missing) and <name>/sets.txt, writes <name>/es.tsv.
run_cases <- function(path = "cases.tsv") {
  cases <- read.delim(path, stringsAsFactors = FALSE, quote = "")
  for (i in seq_len(nrow(cases))) {
    d <- cases$name[i]
    x <- as.matrix(read.delim(file.path(d, "expr.tsv"), row.names = 1, check.names = FALSE))
    if (isTRUE(cases$integer[i] == 1)) storage.mode(x) <- "integer"
    l <- strsplit(readLines(file.path(d, "sets.txt")), "\t")
    gs <- lapply(l, function(v) v[-1]); names(gs) <- sapply(l, `[`, 1)
    args <- eval(parse(text = sprintf("list(%s)", cases$args[i])))
    es <- suppressWarnings(suppressMessages(do.call(cases$fun[i], c(list(x, gs), args))))
    out <- es
    out[] <- sprintf("%.17g", es)  # write.table keeps only 15 significant digits
    write.table(out, file.path(d, "es.tsv"), sep = "\t", quote = FALSE)
  }
}

## GSVA 1.46 (Debian), the old API, for the harness check.
gsva146 <- function(x, gs, ...) {
  suppressPackageStartupMessages(library(GSVA))
  GSVA::gsva(x, gs, method = "gsva", verbose = FALSE, ...)
}
